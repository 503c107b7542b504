"""Ships a step's log to the server in chunks, off the step's output path.

Output arrives in pieces as small as a byte; sending each would cost a call per piece. The
shipper buffers and sends when 256 KiB have gathered or 100 ms have passed, from a thread
of its own, so a slow server never slows the step. Offsets make a resend harmless.
"""

from __future__ import annotations

import logging
import threading
import time

from shipline.errors import ShiplineError
from shipline.worker.protocol import Assignment, WorkerClient

logger = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024
FLUSH_SECONDS = 0.1
RETRIES = 5


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
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        if self._failed:
            logger.warning("log of %s was not fully shipped: %s", self.job.step_key, self._failed)

    def _take(self) -> bytes:
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        return data

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._closed and self._pending_bytes < CHUNK_BYTES:
                    self._lock.wait(FLUSH_SECONDS)
                data = self._take()
                closed = self._closed
            if data:
                self._send(data)
            if closed:
                with self._lock:
                    rest = self._take()
                if rest:
                    self._send(rest)
                return

    def _send(self, data: bytes) -> None:
        for start in range(0, len(data), CHUNK_BYTES):
            piece = data[start : start + CHUNK_BYTES]
            for attempt in range(RETRIES):
                try:
                    self.client.append_log(self.job, self.offset, piece)
                    break
                except ShiplineError as exc:
                    self._failed = str(exc)
                    time.sleep(0.2 * (attempt + 1))
            # Counted even when it never arrived: later chunks keep their true offsets, and
            # the server marks the gap instead of shifting the rest of the log.
            self.offset += len(piece)
