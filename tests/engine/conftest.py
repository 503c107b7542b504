"""Fixtures for engine tests: a pipeline committed in a real repo, prepared and run."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipline.engine import PipelineEngine, PipelineResult, RunContext, RunListener
from shipline.local import LocalRequest, prepare
from shipline.plan import Plan
from shipline.run.executor import Executor
from shipline.run.shell import ShellExecutor

MakeRepo = Callable[..., Path]

IDENTITY = [
    "-c",
    "user.name=Shipline Test",
    "-c",
    "user.email=test@shipline.invalid",
    "-c",
    "commit.gpgsign=false",
]


@dataclass
class Ran:
    result: PipelineResult
    plan: Plan
    context: RunContext
    logs: dict[str, str]  # step name → log text ("" for steps that never ran)

    @property
    def status(self) -> dict[str, str]:
        """Step name → status value, the shape most assertions want."""
        return {s.name: str(self.result.steps[s.id].status) for s in self.plan.steps()}


PrepareRun = Callable[..., tuple[Plan, RunContext]]
RunPipeline = Callable[..., Ran]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def prepare_run(make_repo: MakeRepo, data_dir: Path) -> PrepareRun:
    """prepare_run(pipeline | repo=..., **LocalRequest fields) -> (plan, context)."""

    def run(
        pipeline: str | None = None,
        *,
        files: Mapping[str, str] | None = None,
        repo: Path | None = None,
        data: Path | None = None,
        **request: object,
    ) -> tuple[Plan, RunContext]:
        if repo is None:
            assert pipeline is not None
            repo = make_repo(pipeline, dict(files or {}))
        local = prepare(LocalRequest(repo=repo, data_dir=data or data_dir, **request))  # type: ignore[arg-type]
        assert local.parsed.ok, [d.format() for d in local.parsed.diagnostics]
        assert isinstance(local.plan, Plan), local.plan
        assert local.context is not None
        return local.plan, local.context

    return run


@pytest.fixture
def run_pipeline(prepare_run: PrepareRun) -> RunPipeline:
    """Commit `pipeline` (or use `repo=`), run it with `executor` (default: the real shell)."""

    def run(
        pipeline: str | None = None,
        *,
        executor: Executor | None = None,
        listener: RunListener | None = None,
        **kwargs: object,
    ) -> Ran:
        plan, context = prepare_run(pipeline, **kwargs)
        engine = PipelineEngine(plan, context, executor or ShellExecutor(), listener)
        result = engine.run()
        logs: dict[str, str] = {}
        for step in plan.steps():
            path = result.steps[step.id].log_path
            logs[step.name] = path.read_text() if path is not None and path.exists() else ""
        return Ran(result, plan, context, logs)

    return run


@pytest.fixture
def git_in() -> Callable[..., str]:
    def run(repo: Path, *args: str) -> str:
        proc = subprocess.run(
            ["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
        )
        return proc.stdout

    return run


@pytest.fixture
def commit(git_in: Callable[..., str]) -> Callable[..., str]:
    """commit(repo, {path: text | None}, message) -> sha; None deletes the file."""

    def run(repo: Path, files: Mapping[str, str | None], message: str = "change") -> str:
        for rel, text in files.items():
            target = repo / rel
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git_in(repo, "add", "-A")
        git_in(repo, "commit", "-q", "-m", message)
        return git_in(repo, "rev-parse", "HEAD").strip()

    return run
