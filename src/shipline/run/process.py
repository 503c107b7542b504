"""Supervise one process group: stream its output, enforce a deadline, cancel on request."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipline.run.executor import OutputSink

KILL_GRACE_SECONDS = 2.0
_READ_SIZE = 1 << 16
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    timed_out: bool
    cancelled: bool


class SupervisedProcess:
    """A command in its own session; everything it spawns dies with it."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> None:
        self._proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self._proc.pid
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _leader_exited(self) -> bool:
        """Has the command itself ended? Checked without reaping it: while it is a zombie its
        pid, which is also the group id, cannot be reused, so signalling the group stays safe."""
        try:
            state = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return state is not None

    def wait(self, output: OutputSink, max_seconds: float) -> ProcessResult:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + max_seconds
        timed_out = cancelled = False
        term_sent_at: float | None = None
        exited_at: float | None = None
        reading = True
        try:
            while True:
                if reading:
                    ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
                    if ready:
                        data = os.read(fd, _READ_SIZE)
                        if data:
                            output(data)
                        else:  # end of output, but the command may still be running
                            reading = False
                else:
                    time.sleep(_POLL_SECONDS / 10)
                now = time.monotonic()
                if exited_at is not None:
                    # A process that left the group (setsid) may hold the pipe for ever:
                    # shortly after the script ended the step is over anyway.
                    if not reading or now - exited_at > KILL_GRACE_SECONDS:
                        break
                elif self._leader_exited():
                    # The script is done: leftovers it put in the background die with the step
                    # (also those whose output no longer goes to our pipe), and releasing the
                    # pipe lets us reach the end of output.
                    exited_at = now
                    self._signal_group(signal.SIGKILL)
                elif term_sent_at is None:
                    if self._cancel.is_set():
                        cancelled = True
                    elif now >= deadline:
                        timed_out = True
                    if cancelled or timed_out:
                        self._signal_group(signal.SIGTERM)
                        term_sent_at = now
                elif now - term_sent_at > KILL_GRACE_SECONDS:
                    self._signal_group(signal.SIGKILL)
        finally:
            self._proc.stdout.close()
        self._signal_group(signal.SIGKILL)
        returncode = self._proc.wait()
        return ProcessResult(returncode, timed_out, cancelled)
