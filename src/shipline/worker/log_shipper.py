"""Ships a step's log to the server in chunks, off the step's output path.

Output arrives in pieces as small as a byte; sending each would cost a call per piece. The
shipper buffers and sends when 256 KiB have gathered or 100 ms have passed, from a thread
of its own, so a slow server never slows the step. Offsets make a resend harmless.
"""

from __future__ import annotations

import logging
import threading
import time

from shipline.worker.protocol import Assignment, WorkerClient

logger = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024
FLUSH_SECONDS = 0.1
CLOSE_GRACE_SECONDS = 30.0  # at the end of a step, how long to wait for an absent server


class LogShipper:
    """A LogSink (write/close) that appends to the server's copy of the step's log."""

    def __init__(self, client: WorkerClient, job: Assignment) -> None:
        self.client = client
        self.job = job
        self.offset = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._lock = threading.Condition()
        self._closed = False
        self._failed: str | None = None
        self._unsent = 0
        self._thread = threading.Thread(target=self._loop, name="log-shipper", daemon=True)
        self._thread.start()

    def write(self, data: bytes, /) -> int:
        if data:
            with self._lock:
                self._pending.append(bytes(data))
                self._pending_bytes += len(data)
                if self._pending_bytes >= CHUNK_BYTES:
                    self._lock.notify()
        return len(data)

    def close(self) -> None:
        """Send what is left; waits up to CLOSE_GRACE_SECONDS for an absent server."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        if self._unsent:
            logger.warning(
                "log of %s: the last %d bytes never reached the server (%s)",
                self.job.step_key, self._unsent, self._failed,
            )  # fmt: skip

    def _take(self) -> bytes:
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        return data

    def _loop(self) -> None:
        unsent = b""  # kept in order until the server takes it: a gap would end the log
        failures = 0
        gave_up_at: float | None = None
        while True:
            with self._lock:
                if not self._closed and self._pending_bytes < CHUNK_BYTES:
                    pause = min(5.0, 0.2 * 2**failures) if unsent else FLUSH_SECONDS
                    self._lock.wait(pause)
                data = unsent + self._take()
                closed = self._closed
            sent = self._send(data)
            unsent = data[sent:]
            if not unsent:
                failures = 0
                if closed:
                    with self._lock:
                        if not self._pending:
                            return
                continue
            failures += 1
            if closed:
                gave_up_at = gave_up_at or time.monotonic() + CLOSE_GRACE_SECONDS
                if time.monotonic() > gave_up_at:
                    self._unsent = len(unsent) + self._pending_bytes
                    return
                time.sleep(min(5.0, 0.2 * 2**failures))

    def _send(self, data: bytes) -> int:
        """Send `data` in chunks from `self.offset`; returns how many bytes arrived."""
        sent = 0
        for start in range(0, len(data), CHUNK_BYTES):
            piece = data[start : start + CHUNK_BYTES]
            try:
                self.client.append_log(self.job, self.offset, piece)
            except Exception as exc:  # ShiplineError, or the network: try again later
                self._failed = str(exc) or type(exc).__name__
                return sent
            self.offset += len(piece)
            sent += len(piece)
        return sent
