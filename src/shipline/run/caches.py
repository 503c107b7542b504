"""Caches: restored before a step, saved after a successful one, never overwritten while present."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from shipline.plan import CacheSpec
from shipline.run.artifacts import is_special, match_files


@dataclass(frozen=True)
class CacheLocation:
    spec: CacheSpec
    key: str  # directory name in the cache store
    target: Path  # where the step sees it (host path)


def cache_key(spec: CacheSpec, clone_dir: Path) -> str:
    """`name`, or `name-<hash>` when `key.files` is set (hash of the matched files' contents)."""
    if not spec.key_files:
        return spec.name
    digest = hashlib.sha256()
    for rel in sorted(match_files(clone_dir, spec.key_files)):
        digest.update(rel.encode() + b"\0")
        digest.update((clone_dir / rel).read_bytes())
        digest.update(b"\0")
    return f"{spec.name}-{digest.hexdigest()[:16]}"


def resolve_target(
    spec: CacheSpec, clone_dir: Path, home_dir: Path, absolute_root: Path | None = None
) -> Path | None:
    """Where the cache lives on the host: `~` is the step's private home.

    An absolute path maps below `absolute_root` for executors that mount it at that path in
    the step (Docker); without one it is refused (None): restoring it would write into the
    host's own directories.
    """
    path = spec.path
    if path.startswith("~"):
        return home_dir / path.removeprefix("~").lstrip("/")
    if path.startswith("/"):
        return absolute_root / path.lstrip("/") if absolute_root is not None else None
    return clone_dir / path.removeprefix("./")


class CacheStore:
    """Caches for one repository, kept in `root/<key>/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def restore(self, location: CacheLocation) -> bool:
        stored = self.root / location.key
        if not stored.is_dir():
            return False
        location.target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(stored, location.target, symlinks=True, dirs_exist_ok=True)
        return True

    def save(self, location: CacheLocation) -> str:
        """Save the step's cache directory unless this key is already stored; say what happened."""
        stored = self.root / location.key
        if stored.exists():
            return "kept (already present)"
        if not location.target.is_dir():
            return "not saved (directory does not exist)"
        partial = self.root / f".{location.key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            shutil.copytree(location.target, partial, symlinks=True, ignore=_special_files)
            partial.rename(stored)  # atomic: a half-written cache is never restored
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            return f"not saved ({exc})"
        return "saved"


def _special_files(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if is_special(Path(directory) / name)}
