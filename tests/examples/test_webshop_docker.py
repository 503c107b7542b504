"""The bundled Docker example runs green on the real engine and local registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from shipline.engine import PipelineEngine, PipelineStatus
from shipline.errors import ExecutorError
from shipline.local import LocalRequest, prepare
from shipline.plan import Plan
from shipline.run.docker import DockerExecutor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webshop-docker"
IDENTITY = ["-c", "user.name=Example", "-c", "user.email=example@shipline.invalid"]


def _manifest_digest(repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:5000/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        method="HEAD",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_docker_example_builds_pushes_smoke_tests_and_promotes(tmp_path: Path) -> None:
    try:
        executor = DockerExecutor()
    except ExecutorError as exc:
        pytest.fail(f"needs a Docker engine ({exc}); run ./scripts/docker-up")
    repo = tmp_path / "webshop-docker"
    shutil.copytree(EXAMPLE, repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "release"]):
        subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True)
    local = prepare(LocalRequest(repo=repo, data_dir=tmp_path / "data"))
    assert local.parsed.ok, [d.format() for d in local.parsed.diagnostics]
    assert isinstance(local.plan, Plan)
    assert local.context is not None
    result = PipelineEngine(local.plan, local.context, executor).run()
    logs = {
        step.name: (result.steps[step.id].log_path or Path("/dev/null")).read_text()
        for step in local.plan.steps()
    }
    assert result.status is PipelineStatus.PASSED, logs
    commit = local.context.identity.commit
    assert "catalogue API answered on localhost" in logs["Integration tests"]
    assert f"webshop {commit} ready" in logs["Smoke test image"]
    with urllib.request.urlopen(
        "http://127.0.0.1:5000/v2/webshop/app/tags/list", timeout=10
    ) as response:
        assert {commit, "latest"} <= set(json.load(response)["tags"])
    # `latest` now names exactly the image built from this commit.
    assert _manifest_digest("webshop/app", "latest") == _manifest_digest("webshop/app", commit)
