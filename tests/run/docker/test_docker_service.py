"""`docker build` / `docker push` inside a step, with a daemon per step or the host's."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Callable
from typing import Any

import docker
import pytest

from shipline.engine import PipelineStatus
from shipline.run.docker import DockerExecutor
from shipline.run.docker.step_daemon import DEFAULT_ROOT

BUSYBOX = "shipline-test/busybox:latest"
BASE = "127.0.0.1:5000/shipline-test/busybox:latest"

DOCKERFILE = f"""FROM {BASE}
ARG COMMIT
RUN echo "built from $COMMIT" > /built
CMD ["cat", "/built"]
"""

PIPELINE = f"""
image: {BUSYBOX}
pipelines:
  default:
    - step:
        name: Build and push
        services: [docker]
        script:
          - export IMAGE=127.0.0.1:5000/shipline-e2e/{{name}}:$BITBUCKET_COMMIT
          - docker build --build-arg COMMIT=$BITBUCKET_COMMIT -t $IMAGE .
          - docker push $IMAGE
          - docker images
    - step:
        name: Pull and run
        services: [docker]
        script:
          - docker pull 127.0.0.1:5000/shipline-e2e/{{name}}:$BITBUCKET_COMMIT
          - docker run --rm 127.0.0.1:5000/shipline-e2e/{{name}}:$BITBUCKET_COMMIT
"""


@pytest.mark.parametrize("host_daemon", [False, True], ids=["step-daemon", "host-daemon"])
def test_a_step_builds_and_pushes_and_a_later_step_pulls_and_runs(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient, host_daemon: bool
) -> None:
    executor = DockerExecutor(docker_client, host_daemon_for_docker=host_daemon)
    name = "app-host" if host_daemon else "app-own"
    ran = run_pipeline(PIPELINE.replace("{name}", name), executor, files={"Dockerfile": DOCKERFILE})
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    commit = _commit_of(ran)
    # The later step ran the image the first one built from this very commit...
    assert f"built from {commit}" in ran.logs["Pull and run"]
    # ...and the registry holds it under the commit's tag.
    with urllib.request.urlopen(
        f"http://127.0.0.1:5000/v2/shipline-e2e/{name}/tags/list", timeout=10
    ) as response:
        tags = json.load(response)["tags"]
    assert commit in tags


def _commit_of(ran: Any) -> str:
    for line in ran.logs["Build and push"].splitlines():
        if line.startswith("Successfully tagged "):
            return str(line.rsplit(":", 1)[1])
    raise AssertionError(f"no tag in the build log: {ran.logs['Build and push']}")


def test_each_step_daemon_starts_empty_and_is_removed(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    executor = DockerExecutor(docker_client)
    mine = f"{os.getpid()}-"  # other test workers run daemons of their own meanwhile
    pipeline = f"""
image: {BUSYBOX}
pipelines:
  default:
    - step:
        name: Dirty
        services: [docker]
        script:
          - docker pull {BASE}
          - docker tag {BASE} leftover:1
    - step:
        name: Clean
        services: [docker]
        script:
          - docker images -q | wc -l
          - test "$(docker images -q | wc -l)" -eq 0
"""
    ran = run_pipeline(pipeline, executor)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    left = list(DEFAULT_ROOT.glob(f"{mine}*")) if DEFAULT_ROOT.exists() else []
    assert left == [], "a step daemon's files were left behind"
    # Every step-daemon bridge still present belongs to a daemon that still exists.
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    bridges = {line.split(":")[1].strip() for line in links.splitlines() if ": slb" in line}
    live = {
        (r / "bridge").read_text().strip()
        for r in DEFAULT_ROOT.glob("*/")
        if (r / "bridge").exists()
    }
    assert bridges <= live, f"orphaned bridges: {bridges - live}"
