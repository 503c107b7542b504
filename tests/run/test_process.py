"""SupervisedProcess: one process group, streamed output, deadline, cancel, no leftovers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shipline.run.process import KILL_GRACE_SECONDS, SupervisedProcess

PidGone = Callable[..., bool]

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def start(tmp_path: Path, script: str, env: dict[str, str] | None = None) -> SupervisedProcess:
    return SupervisedProcess(["bash", "-c", script], tmp_path, env or ENV)


def collect(process: SupervisedProcess, max_seconds: float = 30.0) -> tuple[int, bytes, bool]:
    chunks: list[bytes] = []
    result = process.wait(chunks.append, max_seconds)
    return result.returncode, b"".join(chunks), result.timed_out


def test_output_and_return_code(tmp_path: Path) -> None:
    code, output, timed_out = collect(start(tmp_path, "echo out; echo err >&2; exit 4"))
    assert (code, output, timed_out) == (4, b"out\nerr\n", False)


def test_cwd_and_exact_environment(tmp_path: Path) -> None:
    process = start(tmp_path, 'echo "$PWD|$ONLY|${HOME-none}"', {**ENV, "ONLY": "this"})
    assert collect(process)[1] == f"{tmp_path}|this|none\n".encode()


def test_runs_in_its_own_session(tmp_path: Path) -> None:
    process = start(tmp_path, "ps -o pgid= -o sid= -p $$")
    pgid, sid = collect(process)[1].split()
    assert int(pgid) == process.pid
    assert int(sid) == process.pid
    assert os.getpgid(0) != process.pid


def test_binary_output_is_passed_through_untouched(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4
    (tmp_path / "blob").write_bytes(payload)
    assert collect(start(tmp_path, "cat blob"))[1] == payload


def test_five_megabytes_arrive_whole(tmp_path: Path) -> None:
    code, output, _ = collect(
        start(tmp_path, "head -c 5242880 /dev/urandom | tee copy >/dev/null; cat copy")
    )
    assert code == 0
    assert output == (tmp_path / "copy").read_bytes()
    assert len(output) == 5 * 1024 * 1024


def test_deadline_terminates(tmp_path: Path) -> None:
    started = time.monotonic()
    code, output, timed_out = collect(start(tmp_path, "echo begin; sleep 60"), max_seconds=0.5)
    assert timed_out
    assert code == -15
    assert output == b"begin\n"
    assert time.monotonic() - started < 0.5 + KILL_GRACE_SECONDS


def test_deadline_escalates_to_sigkill(tmp_path: Path) -> None:
    started = time.monotonic()
    process = start(tmp_path, "trap '' TERM; while :; do sleep 0.05; done")
    code, _, timed_out = collect(process, max_seconds=0.3)
    elapsed = time.monotonic() - started
    assert timed_out
    assert code == -9
    assert 0.3 + KILL_GRACE_SECONDS <= elapsed < 0.3 + KILL_GRACE_SECONDS + 1.5


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    process = start(tmp_path, "sleep 60")
    threading.Timer(0.3, process.cancel).start()
    started = time.monotonic()
    result = process.wait(lambda data: None, 30)
    assert result.cancelled
    assert not result.timed_out
    assert result.returncode == -15
    assert time.monotonic() - started < 2


def test_leftovers_die_even_when_they_dropped_the_output_pipe(
    tmp_path: Path, pid_gone: PidGone
) -> None:
    code, _, _ = collect(start(tmp_path, "sleep 300 >/dev/null 2>&1 & echo $! > pid"))
    assert code == 0
    assert pid_gone(int((tmp_path / "pid").read_text()))


def test_leftovers_holding_the_pipe_die(tmp_path: Path, pid_gone: PidGone) -> None:
    started = time.monotonic()
    code, output, _ = collect(start(tmp_path, "sleep 300 & echo $! > pid; echo bye"))
    assert (code, output) == (0, b"bye\n")
    assert time.monotonic() - started < 2
    assert pid_gone(int((tmp_path / "pid").read_text()))


def test_command_that_closes_its_output_early_is_still_supervised(
    tmp_path: Path, pid_gone: PidGone
) -> None:
    process = start(tmp_path, "sleep 300 >/dev/null 2>&1 & echo $! > pid; exec >&- 2>&-; sleep 60")
    started = time.monotonic()
    code, _, timed_out = collect(process, max_seconds=0.5)
    assert timed_out
    assert code == -15
    assert time.monotonic() - started < 0.5 + KILL_GRACE_SECONDS
    assert pid_gone(int((tmp_path / "pid").read_text()))


def test_output_after_the_command_exits_is_drained(tmp_path: Path) -> None:
    # A lot of output still buffered in the pipe when the command ends is not lost.
    code, output, _ = collect(start(tmp_path, "seq 1 50000"))
    assert code == 0
    assert output == "".join(f"{n}\n" for n in range(1, 50001)).encode()
