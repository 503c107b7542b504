"""`shipline run` on a real Docker engine: interrupted runs leave nothing behind for long."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from shipline.errors import ExecutorError
from shipline.run.docker.client import connect
from shipline.run.docker.labels import OWNER
from shipline.run.docker.step_daemon import DEFAULT_ROOT

BUSYBOX = "shipline-test/busybox:latest"
HTTPD = "shipline-test/httpd:latest"
LONG_STEP = f"""
image: {BUSYBOX}
definitions:
  services:
    web:
      image: {HTTPD}
      memory: 256
pipelines:
  default:
    - step:
        name: Long
        services: [web, docker]
        script:
          - echo step-is-running
          - sleep 300
"""


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    try:
        return connect(timeout=30)
    except ExecutorError as exc:
        pytest.fail(f"these tests need a Docker engine: {exc}. Run ./scripts/docker-up first.")


def _owned_by(client: docker.DockerClient, pid: int) -> list[str]:
    import socket

    label = f"{OWNER}={socket.gethostname()}:{pid}"
    found = client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    return sorted(str(c.name) for c in found)


def _start_until_running(cli: Any, repo: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        cli.argv("run", "--executor", "docker"),
        cwd=repo,
        env=cli.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "step-is-running" in line and "+ echo" not in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError("the step never started:\n" + "".join(seen))


def test_kill_9_mid_step_then_the_next_run_sweeps_the_leftovers(
    make_repo: Any, cli: Any, engine: docker.DockerClient
) -> None:
    repo = make_repo(LONG_STEP)
    proc = _start_until_running(cli, repo)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    leftovers = _owned_by(engine, proc.pid)
    assert any("-step-" in name for name in leftovers), leftovers
    assert any("svc-web" in name for name in leftovers), leftovers
    daemons = list(DEFAULT_ROOT.glob(f"{proc.pid}-*"))
    assert daemons, "the step's own Docker daemon should have been left behind"

    quick = make_repo(
        f"image: {BUSYBOX}\npipelines:\n  default:\n    - step:\n        script: [echo fine]\n"
    )
    after = cli.run("run", "--executor", "docker", cwd=quick, timeout=120)

    assert after.returncode == 0, after.stdout + after.stderr
    assert _owned_by(engine, proc.pid) == []
    assert not any(d.exists() for d in daemons)
    # Other Shipline processes (parallel test workers) sweep too, so which run removed what
    # varies; that nothing is left once the next run has started does not.


def test_ctrl_c_stops_the_step_and_leaves_no_container(
    make_repo: Any, cli: Any, engine: docker.DockerClient
) -> None:
    repo = make_repo(LONG_STEP)
    proc = _start_until_running(cli, repo)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)

    assert proc.returncode == 130, out
    assert time.monotonic() - started < 30
    assert "cancelled" in out
    assert _owned_by(engine, proc.pid) == []
    assert list(DEFAULT_ROOT.glob(f"{proc.pid}-*")) == []
