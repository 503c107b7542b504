"""Step workspaces are real, independent git checkouts of the run's commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shipline.errors import WorkspaceError
from shipline.plan import CloneSpec
from shipline.run.workspace import SourceRef, StepDirs, WorkspaceFactory

MakeRepo = Callable[..., Path]
GitIn = Callable[..., str]
Commit = Callable[..., str]


@pytest.fixture
def five_commits(make_repo: MakeRepo, commit: Commit) -> tuple[Path, list[str]]:
    repo = make_repo("pipelines: {}\n", {"file.txt": "0"})
    shas = [commit(repo, {"file.txt": str(n)}, f"commit {n}") for n in range(1, 5)]
    return repo, shas


def factory(tmp_path: Path, source: SourceRef) -> WorkspaceFactory:
    return WorkspaceFactory(source, tmp_path / "run")


def test_step_dirs_layout(tmp_path: Path) -> None:
    dirs = StepDirs.under(tmp_path / "s")
    assert (dirs.clone, dirs.home, dirs.tmp, dirs.meta) == (
        tmp_path / "s" / "build",
        tmp_path / "s" / "home",
        tmp_path / "s" / "tmp",
        tmp_path / "s" / "meta",
    )


def test_workspace_is_a_checkout_of_the_commit_on_its_branch(
    tmp_path: Path, five_commits: tuple[Path, list[str]], git_in: GitIn
) -> None:
    repo, shas = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, shas[-1], branch="main"))
    dirs = workspaces.create("step-1", CloneSpec())
    for path in (dirs.clone, dirs.home, dirs.tmp, dirs.meta):
        assert path.is_dir()
    assert list(dirs.home.iterdir()) == []
    assert git_in(dirs.clone, "rev-parse", "HEAD").strip() == shas[-1]
    assert git_in(dirs.clone, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert (dirs.clone / "file.txt").read_text() == "4"
    assert git_in(dirs.clone, "status", "--porcelain") == ""
    assert git_in(dirs.clone, "remote", "get-url", "origin").strip() == repo.resolve().as_uri()


@pytest.mark.parametrize(("depth", "count"), [(1, 1), (2, 2), (50, 5), (None, 5)])
def test_clone_depth(
    tmp_path: Path,
    five_commits: tuple[Path, list[str]],
    git_in: GitIn,
    depth: int | None,
    count: int,
) -> None:
    repo, shas = five_commits
    dirs = factory(tmp_path, SourceRef(repo, shas[-1], branch="main")).create(
        "step-1", CloneSpec(depth=depth)
    )
    assert int(git_in(dirs.clone, "rev-list", "--count", "HEAD")) == count
    shallow = git_in(dirs.clone, "rev-parse", "--is-shallow-repository").strip()
    assert shallow == ("true" if count < 5 else "false")


def test_an_older_commit_can_be_checked_out(
    tmp_path: Path, five_commits: tuple[Path, list[str]], git_in: GitIn
) -> None:
    repo, shas = five_commits
    dirs = factory(tmp_path, SourceRef(repo, shas[1], branch="main")).create(
        "step-1", CloneSpec(depth=1)
    )
    assert git_in(dirs.clone, "rev-parse", "HEAD").strip() == shas[1]
    assert (dirs.clone / "file.txt").read_text() == "2"


def test_tag_run_is_detached_with_the_tag(
    tmp_path: Path, five_commits: tuple[Path, list[str]], git_in: GitIn
) -> None:
    repo, shas = five_commits
    dirs = factory(tmp_path, SourceRef(repo, shas[-1], tag="v1.2.3")).create("s", CloneSpec())
    assert git_in(dirs.clone, "tag", "--points-at", "HEAD").split() == ["v1.2.3"]
    assert git_in(dirs.clone, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"


def test_clone_disabled_gives_an_empty_directory(
    tmp_path: Path, five_commits: tuple[Path, list[str]]
) -> None:
    repo, shas = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, shas[-1], branch="main"))
    dirs = workspaces.create("step-1", CloneSpec(enabled=False))
    assert dirs.clone.is_dir()
    assert list(dirs.clone.iterdir()) == []
    assert not (tmp_path / "run" / "templates").exists()


def test_steps_get_independent_copies_of_one_clone_per_setting(
    tmp_path: Path, five_commits: tuple[Path, list[str]], git_in: GitIn
) -> None:
    repo, shas = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, shas[-1], branch="main"))
    first = workspaces.create("step-1", CloneSpec())
    (first.clone / "made-by-step-1").write_text("x")
    (first.clone / "file.txt").write_text("changed")
    second = workspaces.create("step-2", CloneSpec())
    third = workspaces.create("step-3", CloneSpec(depth=None))
    assert not (second.clone / "made-by-step-1").exists()
    assert (second.clone / "file.txt").read_text() == "4"
    assert git_in(second.clone, "status", "--porcelain") == ""
    templates = sorted(p.name for p in (tmp_path / "run" / "templates").iterdir())
    assert templates == ["depth-50", "depth-full"]
    assert int(git_in(third.clone, "rev-list", "--count", "HEAD")) == 5


def test_recreating_a_step_starts_fresh(
    tmp_path: Path, five_commits: tuple[Path, list[str]]
) -> None:
    repo, shas = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, shas[-1], branch="main"))
    dirs = workspaces.create("step-1", CloneSpec())
    (dirs.home / "leftover").write_text("x")
    (dirs.clone / "leftover").write_text("x")
    again = workspaces.create("step-1", CloneSpec())
    assert not (again.home / "leftover").exists()
    assert not (again.clone / "leftover").exists()


def test_destroy_and_cleanup(tmp_path: Path, five_commits: tuple[Path, list[str]]) -> None:
    repo, shas = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, shas[-1], branch="main"))
    one = workspaces.create("step-1", CloneSpec())
    two = workspaces.create("step-2", CloneSpec())
    workspaces.destroy(one)
    assert not one.root.exists()
    assert two.root.exists()
    workspaces.destroy(one)  # idempotent
    (tmp_path / "run" / "logs").mkdir()
    workspaces.cleanup()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["logs"]


def test_unknown_commit_is_a_workspace_error(
    tmp_path: Path, five_commits: tuple[Path, list[str]]
) -> None:
    repo, _ = five_commits
    workspaces = factory(tmp_path, SourceRef(repo, "0" * 40, branch="main"))
    with pytest.raises(WorkspaceError, match="cannot clone commit 000000000000"):
        workspaces.create("step-1", CloneSpec())
