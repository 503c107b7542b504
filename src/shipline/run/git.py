"""Thin git helpers: commands as argv lists, run in one place, errors translated."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shipline.errors import GitError

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


def git(args: list[str], cwd: Path, *, check: bool = True) -> str:
    """Run `git ARGS` in `cwd` and return stdout; raise GitError with git's message on failure."""
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        message = proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}"
        raise GitError(f"git {' '.join(args)}: {message}")
    return proc.stdout


def git_ok(args: list[str], cwd: Path) -> bool:
    """Run `git ARGS` and say whether it succeeded (for commands whose failure is an answer)."""
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False)
    return proc.returncode == 0


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    branch: str | None


def repo_root(path: Path) -> Path:
    return Path(git(["rev-parse", "--show-toplevel"], path).strip())


def head_commit(repo: Path, rev: str = "HEAD") -> CommitInfo:
    sha = git(["rev-parse", "--verify", f"{rev}^{{commit}}"], repo).strip()
    message = git(["log", "-1", "--format=%B", sha], repo)
    branch = git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo, check=False).strip()
    return CommitInfo(sha, message, branch or None)


def has_uncommitted_changes(repo: Path) -> bool:
    return bool(git(["status", "--porcelain", "--untracked-files=no"], repo).strip())


def changed_files(repo: Path, commit: str, base: str | None = None) -> list[str] | None:
    """Files changed by `commit` against `base` (default: its first parent).

    None means 'unknown' (a root commit or an unreachable base): conditions then hold, as on
    Bitbucket when there is nothing to compare against.
    """
    against = base or f"{commit}^"
    probe = git(["rev-parse", "--verify", "--quiet", f"{against}^{{commit}}"], repo, check=False)
    if not probe.strip():
        return None
    merge_base = against
    if base is not None:
        found = git(["merge-base", base, commit], repo, check=False).strip()
        merge_base = found or base
    output = git(["diff", "--name-only", "--no-renames", merge_base, commit], repo)
    return [line for line in output.splitlines() if line]


def remote_identity(repo: Path) -> tuple[str | None, str | None]:
    """(workspace, slug) guessed from the 'origin' remote URL, e.g. git@host:team/app.git."""
    url = git(["config", "--get", "remote.origin.url"], repo, check=False).strip()
    if not url:
        return None, None
    tail = url.rstrip("/").removesuffix(".git")
    parts = tail.replace(":", "/").split("/")
    if len(parts) >= 2 and parts[-1] and parts[-2]:
        return parts[-2], parts[-1]
    return None, None
