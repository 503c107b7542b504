"""Artifact globs, collection and restoration on real directories."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from shipline.run.artifacts import collect, match_files, restore

TREE = {
    "README.md": "r",
    "build.log": "l",
    "dist/app.tar.gz": "a",
    "dist/docs/index.html": "i",
    "dist/docs/deep/page.html": "p",
    "reports/unit.xml": "u",
    "reports/nested/int.xml": "n",
    "src/main.py": "m",
    "src/pkg/util.py": "u",
    ".hidden/secret.txt": "s",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for rel, text in TREE.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["dist/**"], ["dist/app.tar.gz", "dist/docs/deep/page.html", "dist/docs/index.html"]),
        (["dist"], ["dist/app.tar.gz", "dist/docs/deep/page.html", "dist/docs/index.html"]),
        (["dist/docs"], ["dist/docs/deep/page.html", "dist/docs/index.html"]),
        (["dist/*.gz"], ["dist/app.tar.gz"]),
        (["reports/*.xml"], ["reports/unit.xml"]),
        (["reports/**/*.xml"], ["reports/nested/int.xml", "reports/unit.xml"]),
        (["**/*.py"], ["src/main.py", "src/pkg/util.py"]),
        (["*.log", "./README.md"], ["README.md", "build.log"]),
        (["src/{main,missing}.py"], ["src/main.py"]),
        ([".hidden/*"], [".hidden/secret.txt"]),
        (["nothing/**"], []),
        ([], []),
    ],
)
def test_match_files(tree: Path, patterns: list[str], expected: list[str]) -> None:
    assert sorted(match_files(tree, patterns)) == expected


def test_collect_copies_matches_keeping_paths(tree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    kept = collect(tree, ["dist/**", "build.log"], store)
    assert sorted(kept) == [
        "build.log",
        "dist/app.tar.gz",
        "dist/docs/deep/page.html",
        "dist/docs/index.html",
    ]
    assert (store / "dist" / "docs" / "deep" / "page.html").read_text() == "p"
    assert not (store / "src").exists()


def test_collect_keeps_symlinks_and_modes(tree: Path, tmp_path: Path) -> None:
    (tree / "dist" / "latest").symlink_to("app.tar.gz")
    script = tree / "dist" / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    store = tmp_path / "store"
    collect(tree, ["dist/**"], store)
    assert os.readlink(store / "dist" / "latest") == "app.tar.gz"
    assert os.access(store / "dist" / "run.sh", os.X_OK)


def test_collect_nothing_matched(tree: Path, tmp_path: Path) -> None:
    assert collect(tree, ["missing/*"], tmp_path / "store") == []
    assert not (tmp_path / "store").exists()


def test_restore_later_stores_win(tmp_path: Path) -> None:
    first, second, workspace = tmp_path / "a", tmp_path / "b", tmp_path / "ws"
    for store, text in ((first, "first"), (second, "second")):
        (store / "out").mkdir(parents=True)
        (store / "out" / "shared.txt").write_text(text)
    (first / "out" / "only-first.txt").write_text("1")
    (workspace / "out").mkdir(parents=True)
    (workspace / "out" / "shared.txt").write_text("from git")
    count = restore([first, second, tmp_path / "missing"], workspace)
    assert count == 3
    assert (workspace / "out" / "shared.txt").read_text() == "second"
    assert (workspace / "out" / "only-first.txt").read_text() == "1"


def test_restore_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    store, workspace = tmp_path / "store", tmp_path / "ws"
    store.mkdir()
    (store / "config").write_text("artifact")
    workspace.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    (workspace / "config").symlink_to(outside)
    restore([store], workspace)
    assert not (workspace / "config").is_symlink()
    assert (workspace / "config").read_text() == "artifact"
    assert outside.read_text() == "untouched"


def test_round_trip(tree: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    kept = collect(tree, ["reports/**"], store)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert restore([store], fresh) == len(kept) == 2
    assert (fresh / "reports" / "nested" / "int.xml").read_text() == "n"


def test_pipes_and_sockets_are_not_artifacts(tree: Path, tmp_path: Path) -> None:
    os.mkfifo(tree / "dist" / "fifo")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tree / "dist" / "sock"))
        assert "dist/fifo" not in match_files(tree, ["dist/**"])
        kept = collect(tree, ["dist/**"], tmp_path / "store")
    assert sorted(kept) == ["dist/app.tar.gz", "dist/docs/deep/page.html", "dist/docs/index.html"]
    assert not (tmp_path / "store" / "dist" / "fifo").exists()


def test_wildcards_match_what_they_name_and_literal_directories_take_everything(
    tmp_path: Path,
) -> None:
    """`dist/*` is the files directly in dist; `dist` and `dist/**` are everything below it."""
    for rel in ("dist/a.js", "dist/sub/b.js", "dist/sub/deep/c.js", "report.xml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    everything = ["dist/a.js", "dist/sub/b.js", "dist/sub/deep/c.js"]
    assert match_files(tmp_path, ["dist/*"]) == ["dist/a.js"]
    assert match_files(tmp_path, ["dist"]) == everything
    assert match_files(tmp_path, ["dist/"]) == everything
    assert match_files(tmp_path, ["dist/**"]) == everything
    assert match_files(tmp_path, ["dist/sub"]) == everything[1:]
