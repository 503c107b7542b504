"""Leases and job tokens, with the worker side played by hand through the job service:
a claim is exclusive, a silent worker loses its step, a lost step fails or runs again, and a
worker that lost its lease can no longer write or report."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shipline.server.jobs import JobTokenError
from shipline.worker.protocol import StepReport

ONE = "pipelines:\n  default:\n    - step:\n        name: Only\n        script: [echo hi]\n"
DEPLOY = (
    "pipelines:\n  default:\n    - step:\n        name: Ship\n        deployment: staging\n"
    "        script: [echo ship]\n"
)


def _wait_for(check: Any, what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _claim(api: Any, worker: str = "zombie") -> Any:
    job = api.state.jobs.claim(worker, wait_seconds=10)
    assert job is not None, "nothing was queued"
    return job


def test_two_workers_claiming_at_once_get_the_step_once(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0)
    repo = hosted(ONE, on=api)
    repo.trigger()
    got: list[Any] = []
    barrier = threading.Barrier(4)

    def claimer(i: int) -> None:
        barrier.wait()
        got.append(api.state.jobs.claim(f"w{i}", wait_seconds=0.5))

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [job for job in got if job is not None]
    assert len(claimed) == 1
    assert repo.pipeline(1)["steps"][0]["status"] == "running"


def test_a_worker_that_stops_sending_heartbeats_loses_its_step(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0, lease_seconds=1.0)
    repo = hosted(ONE, on=api)
    repo.trigger()
    job = _claim(api)
    done = repo.wait(1, {"failed"}, seconds=15)
    step = done["steps"][0]
    assert step["reason"] == "its worker stopped sending heartbeats (no word for 1 s)"
    # The lost worker is told so and can change nothing any more.
    assert api.state.jobs.heartbeat(job).lost
    with pytest.raises(JobTokenError):
        api.state.jobs.append_log(job, 0, b"too late\n")
    with pytest.raises(JobTokenError):
        api.state.jobs.report(job, StepReport("passed"))
    assert repo.pipeline(1)["steps"][0]["status"] == "failed"
    assert "its worker stopped sending heartbeats" in repo.log(1, "Only")


def test_heartbeats_keep_the_lease(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0, lease_seconds=1.0)
    repo = hosted(ONE, on=api)
    repo.trigger()
    job = _claim(api)
    for _ in range(10):  # 2.5 s: more than twice the lease
        assert not api.state.jobs.heartbeat(job).lost
        time.sleep(0.25)
    assert repo.pipeline(1)["steps"][0]["status"] == "running"
    api.state.jobs.append_log(job, 0, b"all good\n")
    assert api.state.jobs.report(job, StepReport("passed", exit_code=0))
    assert repo.wait(1, {"passed"})["steps"][0]["exit_code"] == 0
    assert repo.log(1, "Only") == "all good\n"


def test_a_lost_step_runs_again_as_a_new_attempt_when_allowed(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0, lease_seconds=1.0, retry_lost_steps=1)
    repo = hosted(ONE, on=api)
    repo.trigger()
    first = _claim(api, "zombie")
    second = _claim(api, "healthy")  # waits until the first attempt is taken back
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.job_id == second.job_id
    requeued = repo.pipeline(1)["steps"][0]
    assert requeued["reason"].startswith("attempt 1 was lost: its worker stopped sending")
    with pytest.raises(JobTokenError):  # attempt 1's token cannot report over attempt 2
        api.state.jobs.report(first, StepReport("failed"))
    assert api.state.jobs.report(second, StepReport("passed", exit_code=0))
    assert repo.wait(1, {"passed", "failed"})["status"] == "passed"
    assert "it runs again as attempt 2" in repo.log(1, "Only", attempt=1)


def test_a_lost_deployment_step_is_never_run_again(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0, lease_seconds=1.0, retry_lost_steps=3)
    repo = hosted(DEPLOY, on=api)
    repo.trigger()
    _claim(api)
    done = repo.wait(1, {"failed"}, seconds=15)
    assert done["steps"][0]["attempt"] == 1
    assert api.state.jobs.claim("another", wait_seconds=0.2) is None


def test_a_stop_reaches_a_worker_through_its_heartbeat(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0)
    repo = hosted(ONE, on=api)
    repo.trigger()
    job = _claim(api)
    assert not api.state.jobs.heartbeat(job).stop
    assert repo.api.post("/repos/shop/pipelines/1/cancel").status_code == 202
    assert repo.pipeline(1)["status"] == "running"  # until the worker says it stopped
    assert api.state.jobs.heartbeat(job).stop
    api.state.jobs.report(job, StepReport("cancelled", "stopped", exit_code=143))
    done = repo.wait(1, {"cancelled"})
    assert done["steps"][0]["reason"] == "stopped"


def test_the_assignment_carries_what_a_remote_worker_needs(make_api: Any, hosted: Any) -> None:
    api = make_api(workers=0)
    repo = hosted(ONE, on=api)
    repo.trigger()
    job = _claim(api)
    assert job.repo == "shop"
    assert job.build_number == 1
    assert job.event["branch"] == "main"
    assert "name: Only" in job.pipeline_file
    assert job.pipeline_uuid.startswith("{")
    assert job.repo_uuid != job.pipeline_uuid
    assert type(job).from_dict(job.to_dict()) == job  # JSON-able, as for HTTP
