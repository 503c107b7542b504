"""Cache keys, locations and the store, on real directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipline.plan import CacheSpec
from shipline.run.caches import CacheLocation, CacheStore, cache_key, resolve_target


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "app").mkdir(parents=True)
    (root / "requirements.txt").write_text("requests==2.32.0\n")
    (root / "app" / "requirements.txt").write_text("flask==3.0.0\n")
    return root


def test_key_without_files_is_the_name(clone: Path) -> None:
    assert cache_key(CacheSpec("pip", "~/.cache/pip", predefined=True), clone) == "pip"


def test_key_with_files_hashes_their_content(clone: Path) -> None:
    spec = CacheSpec("deps", ".venv", key_files=("requirements.txt",))
    key = cache_key(spec, clone)
    assert key.startswith("deps-")
    assert len(key) == len("deps-") + 16
    assert cache_key(spec, clone) == key  # stable
    (clone / "requirements.txt").write_text("requests==2.32.3\n")
    changed = cache_key(spec, clone)
    assert changed != key
    (clone / "requirements.txt").write_text("requests==2.32.0\n")
    assert cache_key(spec, clone) == key  # content, not time, decides


def test_key_covers_every_matched_file(clone: Path) -> None:
    spec = CacheSpec("deps", ".venv", key_files=("**/requirements.txt",))
    key = cache_key(spec, clone)
    (clone / "app" / "requirements.txt").write_text("flask==3.0.1\n")
    assert cache_key(spec, clone) != key


def test_key_with_no_matching_file_is_still_stable(clone: Path) -> None:
    spec = CacheSpec("deps", ".venv", key_files=("missing.lock",))
    assert cache_key(spec, clone) == cache_key(spec, clone)
    assert cache_key(spec, clone) != cache_key(
        CacheSpec("deps", ".venv", key_files=("requirements.txt",)), clone
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~/.cache/pip", "home/.cache/pip"),
        ("~", "home"),
        ("node_modules", "clone/node_modules"),
        ("./vendor/bundle", "clone/vendor/bundle"),
    ],
)
def test_resolve_target(tmp_path: Path, path: str, expected: str) -> None:
    target = resolve_target(CacheSpec("c", path), tmp_path / "clone", tmp_path / "home")
    assert target == tmp_path / expected


def test_absolute_paths_are_refused(tmp_path: Path) -> None:
    assert resolve_target(CacheSpec("c", "/usr/local"), tmp_path / "c", tmp_path / "h") is None


def location(tmp_path: Path, key: str = "pip") -> CacheLocation:
    return CacheLocation(CacheSpec("pip", "~/.cache/pip"), key, tmp_path / "home" / "cache")


def test_restore_of_an_empty_store(tmp_path: Path) -> None:
    where = location(tmp_path)
    assert CacheStore(tmp_path / "caches").restore(where) is False
    assert not where.target.exists()


def test_save_then_restore(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    where = location(tmp_path)
    (where.target / "wheels").mkdir(parents=True)
    (where.target / "wheels" / "a.whl").write_text("wheel")
    (where.target / "link").symlink_to("wheels/a.whl")
    assert store.save(where) == "saved"
    assert sorted(p.name for p in (tmp_path / "caches").iterdir()) == ["pip"]

    fresh = CacheLocation(where.spec, where.key, tmp_path / "other" / "cache")
    assert store.restore(fresh) is True
    assert (fresh.target / "wheels" / "a.whl").read_text() == "wheel"
    assert (fresh.target / "link").is_symlink()


def test_restore_merges_into_an_existing_directory(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    (tmp_path / "caches" / "pip").mkdir(parents=True)
    (tmp_path / "caches" / "pip" / "cached").write_text("c")
    where = location(tmp_path)
    where.target.mkdir(parents=True)
    (where.target / "from-git").write_text("g")
    assert store.restore(where)
    assert sorted(p.name for p in where.target.iterdir()) == ["cached", "from-git"]


def test_a_present_cache_is_never_overwritten(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    where = location(tmp_path)
    where.target.mkdir(parents=True)
    (where.target / "v").write_text("1")
    assert store.save(where) == "saved"
    (where.target / "v").write_text("2")
    assert store.save(where) == "kept (already present)"
    assert (tmp_path / "caches" / "pip" / "v").read_text() == "1"


def test_missing_directory_is_not_saved(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    assert store.save(location(tmp_path)) == "not saved (directory does not exist)"
    assert not (tmp_path / "caches" / "pip").exists()


def test_save_leaves_no_partial_copy(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    where = location(tmp_path, key="deps-0123456789abcdef")
    where.target.mkdir(parents=True)
    (where.target / "f").write_text("x")
    (tmp_path / "caches").mkdir()
    (tmp_path / "caches" / ".deps-0123456789abcdef.partial").mkdir()  # from a crashed save
    assert store.save(where) == "saved"
    assert [p.name for p in (tmp_path / "caches").iterdir()] == ["deps-0123456789abcdef"]


def test_save_skips_pipes_and_sockets(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    where = location(tmp_path)
    where.target.mkdir(parents=True)
    (where.target / "data").write_text("d")
    os.mkfifo(where.target / "fifo")
    assert store.save(where) == "saved"
    assert sorted(p.name for p in (tmp_path / "caches" / "pip").iterdir()) == ["data"]


def test_save_failure_is_reported_not_raised(tmp_path: Path) -> None:
    store = CacheStore(tmp_path / "caches")
    where = location(tmp_path)
    where.target.mkdir(parents=True)
    (tmp_path / "caches").write_text("a file where the cache directory should be")
    result = store.save(where)
    assert result.startswith("not saved (")
