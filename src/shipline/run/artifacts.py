"""Artifacts: files matched by a step's globs, kept after it and restored into later steps."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from shipline.plan.globs import compile_glob, is_literal


def is_special(path: Path) -> bool:
    """A named pipe, socket or device: nothing to keep, and copying one blocks or fails."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return True  # gone meanwhile
    return not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode))


def _files_under(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if is_special(Path(dirpath) / name):
                continue
            yield name if rel_dir == "." else f"{rel_dir}/{name}"
        for name in dirnames:
            full = Path(dirpath) / name
            if full.is_symlink():
                yield name if rel_dir == "." else f"{rel_dir}/{name}"


def match_files(root: Path, patterns: Iterable[str]) -> list[str]:
    """Relative paths of files under `root` that match any pattern.

    A literal directory name takes everything below it (`artifacts: [dist]`); a wildcard
    matches only what it names, so `dist/*` keeps the files directly in dist and `dist/**`
    everything below it — which is why Atlassian's docs tell users to write `dist/**`.
    """
    cleaned = [p.strip().removeprefix("./") for p in patterns]
    globs = [compile_glob(p) for p in cleaned]
    directories = {p.rstrip("/") for p in cleaned if is_literal(p)}
    if not globs:
        return []
    result = []
    for rel in _files_under(root):
        parts = rel.split("/")
        parents = ("/".join(parts[:i]) for i in range(1, len(parts)))
        if any(g.matches(rel) for g in globs) or any(p in directories for p in parents):
            result.append(rel)
    return result


def collect(workspace: Path, patterns: Iterable[str], store: Path) -> list[str]:
    """Copy matching files from the workspace into `store`; return what was kept."""
    kept = match_files(workspace, patterns)
    for rel in kept:
        source = workspace / rel
        target = store / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.unlink(missing_ok=True)
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return kept


def restore(stores: Iterable[Path], workspace: Path) -> int:
    """Copy stored artifacts into a workspace, later stores overwriting earlier ones."""
    count = 0
    for store in stores:
        if not store.is_dir():
            continue
        for rel in _files_under(store):
            source = store / rel
            target = workspace / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copy2(source, target)
            count += 1
    return count
