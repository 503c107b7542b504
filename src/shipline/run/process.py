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

    def wait(self, output: OutputSink, max_seconds: float) -> ProcessResult:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + max_seconds
        timed_out = cancelled = False
        term_sent_at: float | None = None
        reaped = False
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    data = os.read(fd, _READ_SIZE)
                    if not data:
                        break
                    output(data)
                now = time.monotonic()
                if term_sent_at is None and not reaped:
                    if self._cancel.is_set():
                        cancelled = True
                    elif now >= deadline:
                        timed_out = True
                    if cancelled or timed_out:
                        self._signal_group(signal.SIGTERM)
                        term_sent_at = now
                elif term_sent_at is not None and now - term_sent_at > KILL_GRACE_SECONDS:
                    self._signal_group(signal.SIGKILL)
                if not reaped and self._proc.poll() is not None:
                    # The script is done: leftovers it put in the background die with the step,
                    # and releasing the pipe lets us reach end of output.
                    reaped = True
                    self._signal_group(signal.SIGKILL)
        finally:
            self._proc.stdout.close()
        returncode = self._proc.wait()
        return ProcessResult(returncode, timed_out, cancelled)
