"""`- pipe:` items run their image on the step's Docker daemon, with the workspace mounted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker

from shipline.engine import PipelineStatus, StepStatus
from shipline.run.docker import DockerExecutor

BUSYBOX = "shipline-test/busybox:latest"
PIPE = "docker://127.0.0.1:5000/shipline-test/pipe-echo:1"


def test_pipe_gets_its_variables_lists_and_the_workspace(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    pipeline = f"""
image: {BUSYBOX}
pipelines:
  default:
    - step:
        name: With a pipe
        script:
          - export WHO=world
          - pipe: {PIPE}
            variables:
              GREETING: "hello $WHO"
              NAMES: ["first", "second one"]
          - cat pipe-output.txt
"""
    ran = run_pipeline(pipeline, DockerExecutor(docker_client))
    log = ran.logs["With a pipe"]
    assert ran.result.status is PipelineStatus.PASSED, log
    assert "+ pipe: " + PIPE in log
    assert "pipe says: hello world" in log  # values are expanded by the step's shell
    assert "name 0: first" in log
    assert "name 1: second one" in log
    commit = log.split("pipe sees commit ")[1].split()[0]
    assert len(commit) == 40
    assert "in /opt/atlassian/pipelines/agent/build" in log
    assert "written by the pipe" in log  # the pipe wrote into the step's workspace


def test_a_failing_pipe_fails_the_step(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    pipeline = f"""
image: {BUSYBOX}
pipelines:
  default:
    - step:
        name: Pipe fails
        script:
          - pipe: {PIPE}
            variables:
              EXIT_CODE: "4"
          - echo unreachable-line
"""
    ran = run_pipeline(pipeline, DockerExecutor(docker_client))
    step = ran.result.steps[ran.plan.items[0].id]
    assert step.status is StepStatus.FAILED
    assert step.exit_code == 4
    assert "unreachable-line\n" not in ran.logs["Pipe fails"].replace("+ echo unreachable-line", "")


def test_a_pipe_shipline_cannot_resolve_is_a_clear_error(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    pipeline = f"""
image: {BUSYBOX}
pipelines:
  default:
    - step:
        name: Third party
        script:
          - pipe: someone/their-pipe:1.0.0
"""
    executor = DockerExecutor(docker_client)
    ran = run_pipeline(pipeline, executor)
    step = ran.result.steps[ran.plan.items[0].id]
    assert step.status is StepStatus.FAILED
    assert "docker://IMAGE" in step.reason
    assert any("someone/their-pipe" in note for note in executor.preflight(ran.plan))
