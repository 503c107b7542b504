"""The Docker executor on a real engine: images, services on localhost, lifecycle, caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from shipline.engine import PipelineStatus, RunListener, StepStatus
from shipline.plan import StepSpec
from shipline.run.docker import DockerExecutor
from shipline.run.shell import ShellExecutor

BUSYBOX = "shipline-test/busybox:latest"
HTTPD = "shipline-test/httpd:latest"
PIPE_ECHO = "shipline-test/pipe-echo:1"


@pytest.fixture
def executor(docker_client: docker.DockerClient) -> DockerExecutor:
    return DockerExecutor(docker_client)


def _leftovers(client: docker.DockerClient, executor: DockerExecutor) -> list[str]:
    from shipline.run.docker.labels import OWNER, owner_id

    mine = client.containers.list(
        all=True, filters={"label": f"{OWNER}={owner_id()}"}, ignore_removed=True
    )
    return [str(c.name) for c in mine]


def test_service_is_reached_on_localhost(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  services:
    web:
      image: {HTTPD}
      memory: 256
pipelines:
  default:
    - step:
        name: Client
        services: [web]
        script:
          - for i in $(seq 1 10); do wget -qO- http://localhost:8080/ && break; sleep 0.2; done
"""
    ran = run_pipeline(pipeline, executor)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert "hello from the service" in ran.logs["Client"]


def test_step_runs_in_its_image_at_the_bitbucket_clone_dir(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
pipelines:
  default:
    - step:
        name: Where
        image: {BUSYBOX}
        script:
          - echo "dir=$(pwd) clone=$BITBUCKET_CLONE_DIR"
          - ls /bin/busybox
          - test -f bitbucket-pipelines.yml
"""
    ran = run_pipeline(pipeline, executor)
    log = ran.logs["Where"]
    assert ran.result.status is PipelineStatus.PASSED, log
    clone = "/opt/atlassian/pipelines/agent/build"
    assert f"dir={clone} clone={clone}" in log


@pytest.mark.parametrize("make_executor", ["docker", "shell"])
def test_exit_codes_and_after_script_match_the_shell_executor(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient, make_executor: str
) -> None:
    executor = DockerExecutor(docker_client) if make_executor == "docker" else ShellExecutor()
    pipeline = f"""
image: {BUSYBOX}
pipelines:
  default:
    - parallel:
        - step:
            name: Three
            script:
              - echo before
              - exit 3
              - echo never
            after-script:
              - echo "after saw $BITBUCKET_EXIT_CODE"
        - step:
            name: Missing
            script:
              - no-such-command-anywhere
            after-script:
              - echo "after saw $BITBUCKET_EXIT_CODE"
        - step:
            name: Fine
            script:
              - echo ok
            after-script:
              - echo "after saw $BITBUCKET_EXIT_CODE"
              - exit 9
"""
    ran = run_pipeline(pipeline, executor)
    steps = {s.name: ran.result.steps[s.id] for s in ran.plan.steps()}
    assert steps["Three"].exit_code == 3
    assert "after saw 3" in ran.logs["Three"]
    assert "never" not in ran.logs["Three"].replace("+ echo never", "")
    assert steps["Missing"].exit_code == 127
    assert "after saw 127" in ran.logs["Missing"]
    assert steps["Fine"].status is StepStatus.PASSED
    assert steps["Fine"].after_script_exit_code == 9  # after-script failures do not fail a step
    assert "after saw 0" in ran.logs["Fine"]


def test_timeout_kills_the_container_and_leaves_nothing(
    make_repo: Callable[..., Path], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    from shipline.engine import PipelineEngine
    from shipline.local import LocalRequest, prepare

    repo = make_repo(f"""
pipelines:
  default:
    - step:
        name: Slow
        image: {BUSYBOX}
        max-time: 1
        script:
          - echo started
          - sleep 300
""")
    local = prepare(LocalRequest(repo=repo, data_dir=tmp_path / "d"))
    assert local.plan is not None
    assert local.context is not None
    executor = DockerExecutor(docker_client)
    engine = PipelineEngine(local.plan, local.context, executor)  # type: ignore[arg-type]
    # 60 s is too long for a test: shorten this step's limit through its job.
    original_start = executor.start

    def quick_start(job, output):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return original_start(replace(job, max_seconds=1.5), output)

    executor.start = quick_start  # type: ignore[method-assign]
    started = time.monotonic()
    result = engine.run()
    elapsed = time.monotonic() - started
    step = local.plan.items[0]
    assert isinstance(step, StepSpec)
    assert result.steps[step.id].status is StepStatus.FAILED
    assert "timed out" in result.steps[step.id].reason
    assert elapsed < 20
    assert _leftovers(docker_client, executor) == []


def test_cancel_stops_the_step_and_leaves_nothing(
    make_repo: Callable[..., Path], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    from shipline.engine import PipelineEngine
    from shipline.local import LocalRequest, prepare

    repo = make_repo(f"""
definitions:
  services:
    web:
      image: {HTTPD}
      memory: 256
pipelines:
  default:
    - step:
        name: Long
        image: {BUSYBOX}
        services: [web]
        script:
          - echo running
          - sleep 300
    - step:
        name: Never
        image: {BUSYBOX}
        script: [echo never]
""")
    local = prepare(LocalRequest(repo=repo, data_dir=tmp_path / "d"))
    assert local.plan is not None
    assert local.context is not None
    executor = DockerExecutor(docker_client)
    running = threading.Event()

    class Watch(RunListener):
        def step_output(self, step: StepSpec, data: bytes) -> None:
            if b"running" in data and b"+ echo" not in data:
                running.set()

    engine = PipelineEngine(local.plan, local.context, executor, Watch())  # type: ignore[arg-type]
    thread = threading.Thread(target=engine.run)
    thread.start()
    assert running.wait(30), "the step never started"
    assert _leftovers(docker_client, executor), "step and service containers should exist now"
    started = time.monotonic()
    engine.cancel()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - started < 15
    assert _leftovers(docker_client, executor) == []


def test_missing_image_fails_the_step_with_a_clear_message(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = """
pipelines:
  default:
    - step:
        name: Nowhere
        image: shipline-test/does-not-exist:1.0
        script: [echo hi]
"""
    ran = run_pipeline(pipeline, executor)
    step = ran.plan.items[0]
    result = ran.result.steps[step.id]
    assert result.status is StepStatus.FAILED
    assert "shipline-test/does-not-exist:1.0" in result.reason
    assert "cannot be pulled" in result.reason


def test_services_that_do_not_fit_the_step_size_are_refused(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  services:
    big:
      image: {HTTPD}
      memory: 3500
pipelines:
  default:
    - step:
        name: Crowded
        services: [big]
        script: [echo hi]
"""
    ran = run_pipeline(pipeline, executor)
    step = ran.plan.items[0]
    result = ran.result.steps[step.id]
    assert result.status is StepStatus.FAILED
    assert "3500 MB" in result.reason
    assert "1024 MB" in result.reason
    assert any("Crowded" in note for note in executor.preflight(ran.plan))


def test_caches_survive_between_runs(
    run_pipeline: Callable[..., Any], executor: DockerExecutor, make_repo: Callable[..., Path]
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  caches:
    deps: deps
pipelines:
  default:
    - step:
        name: Cached
        caches: [pip, deps]
        script:
          - if [ -f ~/.cache/pip/stamp ]; then echo "pip hit $(cat ~/.cache/pip/stamp)"; fi
          - if [ -f deps/stamp ]; then echo "deps hit $(cat deps/stamp)"; fi
          - mkdir -p ~/.cache/pip deps
          - echo "$BITBUCKET_BUILD_NUMBER" > ~/.cache/pip/stamp
          - echo "$BITBUCKET_BUILD_NUMBER" > deps/stamp
"""
    repo = make_repo(pipeline)
    first = run_pipeline(pipeline, executor, repo=repo)
    assert "hit" not in first.logs["Cached"].replace('echo "pip hit', "").replace(
        'echo "deps hit', ""
    )
    second = run_pipeline(pipeline, executor, repo=repo)
    assert "pip hit 1" in second.logs["Cached"]
    assert "deps hit 1" in second.logs["Cached"]


def test_run_as_user_can_change_files_earlier_steps_made(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
pipelines:
  default:
    - step:
        name: As root
        image: {BUSYBOX}
        script:
          - mkdir -p out && echo one > out/file
          - id -u
        artifacts: [out/**]
    - step:
        name: As builder
        image:
          name: {BUSYBOX}
          run-as-user: 1000
        script:
          - id -u
          - echo two >> out/file
          - cat out/file
"""
    ran = run_pipeline(pipeline, executor)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert "\n1000\n" in ran.logs["As builder"]
    assert "one\ntwo" in ran.logs["As builder"]


def test_service_logs_are_kept_beside_the_step_log(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  services:
    web:
      image: {HTTPD}
      memory: 256
    talker:
      image: {PIPE_ECHO}
      memory: 128
      variables:
        GREETING: from the talker service
pipelines:
  default:
    - step:
        name: With services
        services: [web, talker]
        script:
          - echo step done
"""
    ran = run_pipeline(pipeline, executor)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    log_path = ran.result.steps[ran.plan.items[0].id].log_path
    talker_log = log_path.with_name(f"{log_path.stem}.service-talker.log")
    assert "pipe says: from the talker service" in talker_log.read_text()
    assert log_path.with_name(f"{log_path.stem}.service-web.log").exists()


def test_a_service_that_stops_before_the_step_is_named_with_its_output(
    run_pipeline: Callable[..., Any], executor: DockerExecutor
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  services:
    broken:
      image: {PIPE_ECHO}
      memory: 128
      variables:
        GREETING: config file missing
        EXIT_CODE: "3"
pipelines:
  default:
    - step:
        name: Needs broken
        services: [broken]
        script:
          - sleep 1
          - echo never
"""
    ran = run_pipeline(pipeline, executor)
    reason = ran.result.steps[ran.plan.items[0].id].reason
    assert ran.result.status is PipelineStatus.FAILED
    assert "service 'broken' stopped (exit code 3)" in reason
    assert "config file missing" in reason


def test_absolute_cache_paths_are_mounted_and_the_docker_cache_says_it_is_not_kept(
    run_pipeline: Callable[..., Any], executor: DockerExecutor, make_repo: Callable[..., Path]
) -> None:
    pipeline = f"""
image: {BUSYBOX}
definitions:
  caches:
    toolchain: /opt/toolchain
pipelines:
  default:
    - step:
        name: Absolute
        caches: [toolchain, docker]
        script:
          - test -f /opt/toolchain/stamp && echo "toolchain hit $(cat /opt/toolchain/stamp)" || true
          - mkdir -p /opt/toolchain && echo "$BITBUCKET_BUILD_NUMBER" > /opt/toolchain/stamp
"""
    repo = make_repo(pipeline)
    first = run_pipeline(pipeline, executor, repo=repo)
    assert first.result.status is PipelineStatus.PASSED, first.logs
    assert "cache docker: Docker layer caching is not supported" in first.logs["Absolute"]
    second = run_pipeline(pipeline, executor, repo=repo)
    assert "toolchain hit 1" in second.logs["Absolute"]
