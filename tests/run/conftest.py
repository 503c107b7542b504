"""Fixtures for the run package: real git commits, real step jobs run by the real shell."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from shipline.plan import CommandLine, StepSpec
from shipline.run.executor import StepJob, StepOutcome
from shipline.run.shell import ShellExecutor
from shipline.run.workspace import StepDirs

IDENTITY = [
    "-c",
    "user.name=Shipline Test",
    "-c",
    "user.email=test@shipline.invalid",
    "-c",
    "commit.gpgsign=false",
]

GitIn = Callable[..., str]
Commit = Callable[..., str]
MakeJob = Callable[..., StepJob]
RunJob = Callable[[StepJob], tuple[StepOutcome, str]]
PidGone = Callable[..., bool]


@pytest.fixture
def git_in() -> GitIn:
    """git_in(repo, *args): run git in `repo` and return its stdout."""

    def run(repo: Path, *args: str) -> str:
        proc = subprocess.run(
            ["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
        )
        return proc.stdout

    return run


@pytest.fixture
def commit(git_in: GitIn) -> Commit:
    """commit(repo, {path: text}, message): write files, commit them, return the new sha."""

    def run(repo: Path, files: Mapping[str, str], message: str = "change") -> str:
        for rel, text in files.items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git_in(repo, "add", "-A")
        git_in(repo, "commit", "-q", "-m", message)
        return git_in(repo, "rev-parse", "HEAD").strip()

    return run


@pytest.fixture
def make_job(tmp_path: Path) -> MakeJob:
    """A StepJob for `script` in a fresh, empty step directory (no clone)."""

    def factory(
        script: Sequence[str],
        *,
        after_script: Sequence[str] = (),
        max_seconds: float = 30.0,
        env: Mapping[str, str] | None = None,
        name: str = "step",
    ) -> StepJob:
        step = StepSpec(
            id=f"step-{uuid.uuid4().hex[:8]}",
            number=1,
            name=name,
            script=tuple(CommandLine(text, i + 1) for i, text in enumerate(script)),
            after_script=tuple(CommandLine(text, 100 + i) for i, text in enumerate(after_script)),
        )
        dirs = StepDirs.under(tmp_path / "steps" / step.id)
        for path in (dirs.clone, dirs.home, dirs.tmp, dirs.meta):
            path.mkdir(parents=True)
        return StepJob(step, dirs, dict(env or {}), max_seconds)

    return factory


@pytest.fixture
def run_job() -> RunJob:
    """Run a job through the shell executor's whole lifecycle; return outcome and output."""

    def run(job: StepJob) -> tuple[StepOutcome, str]:
        executor = ShellExecutor()
        chunks: list[bytes] = []
        executor.prepare(job)
        try:
            outcome = executor.start(job, chunks.append).wait()
        finally:
            executor.destroy(job)
        return outcome, b"".join(chunks).decode()

    return run


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")  # a zombie is dead, whoever has yet to reap it


@pytest.fixture
def pid_gone() -> PidGone:
    """pid_gone(pid, within=2.0): True once the process has died (zombies count as dead)."""

    def check(pid: int, within: float = 2.0) -> bool:
        end = time.monotonic() + within
        while _alive(pid):
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    return check


@pytest.fixture
def kill_later() -> Iterator[list[int]]:
    """Pids a test started outside any step; killed at teardown if still there."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, 9)
