"""Fixtures for tests on a real Docker engine (scripts/docker-up provides one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from shipline.engine import PipelineEngine, PipelineResult, RunListener
from shipline.errors import ExecutorError
from shipline.local import LocalRequest, prepare
from shipline.plan import Plan
from shipline.run.docker.client import connect
from shipline.run.docker.labels import MANAGED
from shipline.run.executor import Executor

BUSYBOX = "shipline-test/busybox:latest"
HTTPD = "shipline-test/httpd:latest"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect(timeout=30)
    except ExecutorError as exc:
        pytest.fail(f"these tests need a Docker engine: {exc}. Run ./scripts/docker-up first.")
    for image in (BUSYBOX, HTTPD):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"test image {image} is missing: run ./scripts/docker-up")
    yield client
    client.close()


def managed_containers(client: docker.DockerClient, step_label: str | None = None) -> list[str]:
    """Names of Shipline containers that exist now (for 'nothing left behind' checks)."""
    filters = {"label": [f"{MANAGED}=true"]}
    return [
        str(c.name) for c in client.containers.list(all=True, filters=filters, ignore_removed=True)
    ]


@dataclass
class Ran:
    result: PipelineResult
    plan: Plan
    logs: dict[str, str]  # step name → log text
    run_dir: Path


class _Quiet(RunListener):
    pass


RunPipeline = Callable[..., Ran]


@pytest.fixture
def run_pipeline(make_repo: Callable[..., Path], tmp_path: Path) -> RunPipeline:
    """Commit `pipeline` in a fresh repo and run it with `executor`; data dir shared per test."""
    data_dir = tmp_path / "data"

    def run(
        pipeline: str,
        executor: Executor,
        files: dict[str, str] | None = None,
        repo: Path | None = None,
        listener: RunListener | None = None,
        **request: object,
    ) -> Ran:
        repo = repo or make_repo(pipeline, files)
        local = prepare(LocalRequest(repo=repo, data_dir=data_dir, **request))  # type: ignore[arg-type]
        assert local.parsed.ok, [d.format() for d in local.parsed.diagnostics]
        assert isinstance(local.plan, Plan)
        assert local.context is not None
        engine = PipelineEngine(local.plan, local.context, executor, listener or _Quiet())
        result = engine.run()
        logs = {}
        for step in local.plan.steps():
            log_path = result.steps[step.id].log_path
            logs[step.name] = log_path.read_text(errors="replace") if log_path else ""
        return Ran(result, local.plan, logs, local.context.run_dir)

    return run
