"""The shell executor: environment, time-outs, cancellation and leftover processes, for real."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from shipline.errors import ExecutorError
from shipline.plan import CommandLine, Event, ImageSpec, PipeCall, Plan, ServiceSpec, StepSpec
from shipline.run.executor import StepJob, StepOutcome
from shipline.run.process import KILL_GRACE_SECONDS
from shipline.run.shell import ShellExecutor

MakeJob = Callable[..., StepJob]
RunJob = Callable[[StepJob], tuple[StepOutcome, str]]
PidGone = Callable[..., bool]


def read_pid(job: StepJob, name: str = "bg.pid") -> int:
    return int((job.dirs.clone / name).read_text().strip())


def vars_of(output: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in output.splitlines():
        if "=" in line and not line.startswith("+ "):
            key, _, value = line.partition("=")
            found[key] = value
    return found


# --- environment ----------------------------------------------------------------------------


def test_step_environment_is_private(
    make_job: MakeJob, run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_HOST_SECRET", "leaked")
    job = make_job(
        [
            'echo "HOME=$HOME"',
            'echo "TMPDIR=$TMPDIR"',
            'echo "CLONE=$BITBUCKET_CLONE_DIR"',
            'echo "PWD=$(pwd)"',
            'echo "SECRET=${SHIPLINE_HOST_SECRET-unset}"',
            'echo "MINE=$MINE"',
            'echo "PATHSET=${PATH:+yes}"',
        ],
        env={"MINE": "from job", "HOME": "/ignored"},
    )
    outcome, output = run_job(job)
    assert outcome.passed
    seen = vars_of(output)
    assert seen["HOME"] == str(job.dirs.home)
    assert seen["TMPDIR"] == str(job.dirs.tmp)
    assert seen["CLONE"] == str(job.dirs.clone)
    assert seen["PWD"] == str(job.dirs.clone)
    assert seen["SECRET"] == "unset"
    assert seen["MINE"] == "from job"
    assert seen["PATHSET"] == "yes"


def test_stdin_is_empty(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, output = run_job(make_job(["cat", "echo after-cat"]))
    assert outcome.passed
    assert output == "+ cat\n+ echo after-cat\nafter-cat\n"


def test_prepare_writes_the_scripts(make_job: MakeJob) -> None:
    job = make_job(["echo hi"], after_script=["echo bye"])
    ShellExecutor().prepare(job)
    assert sorted(p.name for p in job.dirs.meta.iterdir()) == [
        "after-script.sh",
        "script.sh",
        "wrapper.sh",
    ]
    assert "echo hi\n" in (job.dirs.meta / "script.sh").read_text()


def test_ident_names_the_process(make_job: MakeJob) -> None:
    executor = ShellExecutor()
    job = make_job(["true"])
    executor.prepare(job)
    running = executor.start(job, lambda data: None)
    assert running.ident.startswith("pid:")
    assert int(running.ident.removeprefix("pid:")) > 1
    assert running.wait().passed


def test_killed_by_a_signal_reports_128_plus_signal(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, _ = run_job(make_job(["kill -9 $$"]))
    assert outcome.exit_code == 137
    assert not outcome.timed_out


def test_start_failure_is_an_executor_error(make_job: MakeJob) -> None:
    executor = ShellExecutor()
    executor.bash = "/nonexistent/shipline/bash"
    job = make_job(["true"])
    executor.prepare(job)
    with pytest.raises(ExecutorError, match="cannot start /nonexistent/shipline/bash"):
        executor.start(job, lambda data: None)


# --- max-time -------------------------------------------------------------------------------


def test_time_out_kills_the_whole_process_group(
    make_job: MakeJob, run_job: RunJob, pid_gone: PidGone
) -> None:
    job = make_job(
        ["sleep 300 &", "echo $! > bg.pid", "echo waiting", "sleep 60", "echo never"],
        after_script=["echo after"],
        max_seconds=1.5,
    )
    started = time.monotonic()
    outcome, output = run_job(job)
    elapsed = time.monotonic() - started
    assert outcome.timed_out
    assert not outcome.passed
    assert not outcome.cancelled
    assert outcome.exit_code == 143  # SIGTERM
    assert 1.4 < elapsed < 1.5 + KILL_GRACE_SECONDS
    assert "waiting\n" in output
    assert "\nnever\n" not in output
    assert pid_gone(read_pid(job))


def test_time_out_kills_children_that_ignore_sigterm(
    make_job: MakeJob, run_job: RunJob, pid_gone: PidGone
) -> None:
    job = make_job(
        [
            "bash -c 'trap \"\" TERM; echo $$ > stubborn.pid; sleep 300' >/dev/null 2>&1 &",
            "bash -c 'trap \"\" TERM; echo $$ > holder.pid; sleep 300' &",
            "sleep 0.3",
            "sleep 60",
        ],
        max_seconds=1.0,
    )
    started = time.monotonic()
    outcome, _ = run_job(job)
    elapsed = time.monotonic() - started
    assert outcome.timed_out
    assert elapsed < 1.0 + KILL_GRACE_SECONDS + 1.5
    assert pid_gone(read_pid(job, "stubborn.pid"))
    assert pid_gone(read_pid(job, "holder.pid"))


def test_time_out_during_after_script(make_job: MakeJob, run_job: RunJob) -> None:
    job = make_job(["echo fine"], after_script=["sleep 60"], max_seconds=1.0)
    outcome, output = run_job(job)
    assert outcome.timed_out
    assert outcome.exit_code == 0  # the script itself had finished
    assert not outcome.passed
    assert outcome.after_script_exit_code is None
    assert "after-script (BITBUCKET_EXIT_CODE=0)" in output


# --- leftovers and cancellation -------------------------------------------------------------


@pytest.mark.parametrize(
    "background",
    ["sleep 300 &", "sleep 300 >/dev/null 2>&1 &", "nohup sleep 300 >/dev/null 2>&1 &"],
)
def test_background_leftovers_die_when_the_step_ends(
    make_job: MakeJob, run_job: RunJob, pid_gone: PidGone, background: str
) -> None:
    job = make_job([background, "echo $! > bg.pid", "echo finished"])
    started = time.monotonic()
    outcome, output = run_job(job)
    assert outcome.passed
    assert output.endswith("finished\n")
    assert time.monotonic() - started < 3
    assert pid_gone(read_pid(job))


def test_background_process_is_still_there_for_the_after_script(
    make_job: MakeJob, run_job: RunJob, pid_gone: PidGone
) -> None:
    job = make_job(
        ["sleep 300 >/dev/null 2>&1 &", "echo $! > bg.pid"],
        after_script=['kill -0 "$(cat bg.pid)" && echo server still up'],
    )
    outcome, output = run_job(job)
    assert outcome.passed
    assert output.endswith("server still up\n")
    assert pid_gone(read_pid(job))


def test_a_process_that_left_the_group_does_not_hang_the_step(
    make_job: MakeJob, run_job: RunJob, kill_later: list[int]
) -> None:
    job = make_job(["setsid sleep 30 &", "echo $! > escaped.pid", "echo done"])
    started = time.monotonic()
    try:
        outcome, output = run_job(job)
    finally:
        kill_later.append(read_pid(job, "escaped.pid"))
    assert outcome.passed
    assert output.endswith("done\n")
    assert time.monotonic() - started < KILL_GRACE_SECONDS + 2


def test_cancel_kills_a_running_step_quickly(make_job: MakeJob, pid_gone: PidGone) -> None:
    executor = ShellExecutor()
    job = make_job(["sleep 300 &", "echo $! > bg.pid", "echo started", "sleep 300"])
    executor.prepare(job)
    chunks: list[bytes] = []
    running = executor.start(job, chunks.append)
    timer = threading.Timer(0.5, running.cancel)
    started = time.monotonic()
    timer.start()
    outcome = running.wait()
    elapsed = time.monotonic() - started
    timer.join()
    assert outcome.cancelled
    assert not outcome.timed_out
    assert not outcome.passed
    assert outcome.exit_code == 143
    assert elapsed < 5
    assert b"started\n" in b"".join(chunks)
    assert pid_gone(read_pid(job))


def test_cancel_before_wait(make_job: MakeJob) -> None:
    executor = ShellExecutor()
    job = make_job(["sleep 300"])
    executor.prepare(job)
    running = executor.start(job, lambda data: None)
    running.cancel()
    started = time.monotonic()
    outcome = running.wait()
    assert outcome.cancelled
    assert time.monotonic() - started < 3


def test_large_output_is_complete(make_job: MakeJob, run_job: RunJob) -> None:
    outcome, output = run_job(make_job(["seq 1 300000"]))
    assert outcome.passed
    expected = "".join(f"{n}\n" for n in range(1, 300001))
    assert output == "+ seq 1 300000\n" + expected


# --- preflight ------------------------------------------------------------------------------


def _plan(*steps: StepSpec) -> Plan:
    return Plan("default", "test", Event(branch="main"), tuple(steps))


def test_preflight_explains_what_the_shell_cannot_honour() -> None:
    step = StepSpec(
        id="step-1",
        number=1,
        name="Build",
        script=(CommandLine("true", 1), PipeCall("atlassian/demo:1.0.0", (), 2)),
        image=ImageSpec("python:3.12"),
        services=(ServiceSpec("postgres", ImageSpec("postgres:16")),),
        oidc=True,
    )
    notes = ShellExecutor().preflight(
        _plan(
            step,
            replace(
                step,
                id="step-2",
                number=2,
                name="Docker",
                docker=True,
                services=(),
                script=(),
                oidc=False,
            ),
        )
    )
    assert notes == [
        "shell executor: steps run on this machine's shell; image(s) python:3.12 are ignored "
        "(use --executor docker to run in them)",
        "shell executor: step 'Build' asks for service(s) postgres, which cannot start without "
        "Docker",
        "shell executor: step 'Build' runs a pipe, which needs Docker; that command will fail",
        "step 'Build' asks for an OIDC token, which a local run cannot issue",
        "shell executor: step 'Docker' uses the docker service; its docker commands reach this "
        "machine's Docker daemon, if any",
    ]


def test_preflight_is_quiet_for_plain_steps() -> None:
    step = StepSpec(id="step-1", number=1, name="Test", script=(CommandLine("true", 1),))
    assert ShellExecutor().preflight(_plan(step)) == []


def test_destroy_is_idempotent(make_job: MakeJob) -> None:
    executor = ShellExecutor()
    job = make_job(["true"])
    executor.destroy(job)
    executor.destroy(job)
    assert os.path.isdir(job.dirs.clone)
