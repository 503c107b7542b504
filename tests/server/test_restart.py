"""kill -9 of the server mid-step, then a restart: no pipeline stays "running" for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]
SLOW = """
pipelines:
  default:
    - step:
        name: Slow
        script:
          - echo started-slow-step
          - sleep 300
"""


def _get(url: str, token: str, path: str) -> Any:
    response = httpx.get(f"{url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


def _wait(check: Any, what: Any, seconds: float = 60) -> Any:
    """Poll `check` until it is truthy; `what` (text, or a callable for late detail) explains."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def test_kill_9_mid_step_then_restart_fails_the_interrupted_pipeline_with_a_reason(
    servers: Any, make_repo: Any
) -> None:
    first = servers.start()
    token = first.admin_token
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{first.url}/api/v1/repos", json={"name": "slow"}, headers=headers)
    repo: Path = make_repo(SLOW)
    remote = f"http://x:{token}@{first.url.removeprefix('http://')}/git/slow.git"
    pushed = subprocess.run(
        ["git", *IDENTITY, "push", remote, "HEAD:main"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "pipeline #1" in pushed.stderr, pushed.stderr
    _wait(
        lambda: (
            _get(first.url, token, "/repos/slow/pipelines/1")["steps"][0]["status"] == "running"
        ),
        "the step to start",
    )

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    second = servers.start(admin_token=token)

    pipeline = _wait(
        lambda: (
            (p := _get(second.url, token, "/repos/slow/pipelines/1"))["status"] != "running" and p
        ),
        "the interrupted pipeline to be settled",
    )
    assert pipeline["status"] == "failed"
    assert pipeline["steps"][0]["status"] == "failed"
    assert pipeline["steps"][0]["reason"] == "the server stopped while this ran"
    # The step's `sleep 300`, in a session of its own, did not outlive the restart.
    runs = str(servers.data_dir / "runs")
    _wait(
        lambda: not _processes_under(runs),
        lambda: (
            f"the interrupted step's processes to end; left: {_describe(_processes_under(runs))}"
        ),
        30,
    )


def _describe(pids: list[int]) -> str:
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{pid} {cmd} in {os.readlink(f'/proc/{pid}/cwd')}")
        except OSError:
            continue
    return "; ".join(out)


def _processes_under(directory: str) -> list[int]:
    """Pids whose working directory lies under `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(directory):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_with_retries_the_interrupted_step_runs_again_after_the_restart(
    servers: Any, make_repo: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt-ran"
    pipeline = f"""
pipelines:
  default:
    - step:
        name: Once slow
        script:
          - if [ -e {marker} ]; then echo second-attempt; exit 0; fi
          - touch {marker}
          - echo first-attempt
          - sleep 300
"""
    first = servers.start(None, "--retry-lost-steps", "1")
    token = first.admin_token
    httpx.post(f"{first.url}/api/v1/repos", json={"name": "slow"},
               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    repo: Path = make_repo(pipeline)
    remote = f"http://x:{token}@{first.url.removeprefix('http://')}/git/slow.git"
    subprocess.run(["git", *IDENTITY, "push", remote, "HEAD:main"], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    log_url = f"{first.url}/api/v1/repos/slow/pipelines/1/steps/step-1/log"
    _wait(
        lambda: "first-attempt" in httpx.get(log_url, headers=headers).text,
        "the first attempt's output to reach the server",
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)

    second = servers.start(token, "--retry-lost-steps", "1")
    done = _wait(
        lambda: (
            (p := _get(second.url, token, "/repos/slow/pipelines/1"))["status"]
            in ("passed", "failed")
            and p
        ),
        "the retried pipeline to finish",
    )
    step = done["steps"][0]
    assert (done["status"], step["attempt"]) == ("passed", 2), done
    first_log = httpx.get(
        f"{second.url}/api/v1/repos/slow/pipelines/1/steps/{step['key']}/log?attempt=1",
        headers={"Authorization": f"Bearer {token}"},
    ).text
    assert "first-attempt" in first_log
    assert "the server stopped while this ran; it runs again as attempt 2" in first_log
