"""Shared fixtures: real git repositories in temporary directories."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

GIT_IDENTITY = [
    "-c",
    "user.name=Shipline Test",
    "-c",
    "user.email=test@shipline.invalid",
    "-c",
    "commit.gpgsign=false",
]


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Create a git repository holding `pipeline` (and `files`), committed on `branch`."""

    counter = iter(range(1000))

    def factory(
        pipeline: str,
        files: dict[str, str] | None = None,
        branch: str = "main",
        message: str = "initial commit",
    ) -> Path:
        repo = tmp_path / f"repo{next(counter)}"
        repo.mkdir()
        git(repo, "init", "-q", "-b", branch)
        (repo / "bitbucket-pipelines.yml").write_text(pipeline)
        for rel, text in (files or {}).items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
        return repo

    return factory
