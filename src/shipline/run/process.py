"""Supervise one process group: stream its output, enforce a deadline, cancel on request."""

from __future__ import annotations

import contextlib
import fcntl
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
_READ_SIZE = 1 << 20
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl: a larger pipe means fewer wake-ups for chatty steps
_FALLBACK_POLL_SECONDS = 0.01


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    timed_out: bool
    cancelled: bool


class SupervisedProcess:
    """A command in its own session; everything it spawns dies with it.

    `wait` sleeps in select() on three descriptors — the output pipe, a pidfd that becomes
    readable when the command exits, and a self-pipe that `cancel` writes to — so a step's
    end, output and cancel are noticed at once instead of by polling.
    """

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
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._pidfd = os.pidfd_open(self.pid)
        assert self._proc.stdout is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._proc.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)

    def cancel(self) -> None:
        self._cancel.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

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

    def _timeout(
        self, now: float, deadline: float, term_sent_at: float | None, exited_at: float | None
    ) -> float:
        """How long select() may sleep before something must be checked."""
        if exited_at is not None:
            limit = exited_at + KILL_GRACE_SECONDS
        elif term_sent_at is not None:
            limit = term_sent_at + KILL_GRACE_SECONDS
            if now >= limit:  # SIGKILL sent: only its effect is awaited, without spinning
                return 0.1
        else:
            limit = deadline
        timeout = max(0.0, limit - now)
        if self._pidfd is None and exited_at is None:
            timeout = min(timeout, _FALLBACK_POLL_SECONDS)
        return timeout

    def wait(self, output: OutputSink, max_seconds: float) -> ProcessResult:
        assert self._proc.stdout is not None
        out_fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + max_seconds
        timed_out = cancelled = False
        term_sent_at: float | None = None
        exited_at: float | None = None
        watched = [out_fd, self._wake_r] + ([self._pidfd] if self._pidfd is not None else [])
        try:
            while True:
                now = time.monotonic()
                timeout = self._timeout(now, deadline, term_sent_at, exited_at)
                ready, _, _ = select.select(watched, [], [], timeout)
                if out_fd in ready:
                    data = os.read(out_fd, _READ_SIZE)
                    if data:
                        output(data)
                    else:  # end of output, but the command may still be running
                        watched.remove(out_fd)
                if self._wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 64)
                now = time.monotonic()
                if exited_at is not None:
                    # A process that left the group (setsid) may hold the pipe for ever:
                    # shortly after the script ended the step is over anyway.
                    if out_fd not in watched or now - exited_at > KILL_GRACE_SECONDS:
                        break
                elif (self._pidfd is not None and self._pidfd in ready) or (
                    self._pidfd is None and self._leader_exited()
                ):
                    # The script is done: leftovers it put in the background die with the step
                    # (also those whose output no longer goes to our pipe), and releasing the
                    # pipe lets us reach the end of output.
                    exited_at = now
                    if self._pidfd is not None:
                        watched.remove(self._pidfd)
                    self._signal_group(signal.SIGKILL)
                    if out_fd not in watched:
                        break
                elif term_sent_at is None:
                    if self._cancel.is_set():
                        cancelled = True
                    elif now >= deadline:
                        timed_out = True
                    if cancelled or timed_out:
                        self._signal_group(signal.SIGTERM)
                        term_sent_at = now
                elif now - term_sent_at >= KILL_GRACE_SECONDS:
                    self._signal_group(signal.SIGKILL)
        finally:
            self._proc.stdout.close()
            for fd in (self._wake_r, self._wake_w, self._pidfd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self._signal_group(signal.SIGKILL)
        returncode = self._proc.wait()
        return ProcessResult(returncode, timed_out, cancelled)
