"""Step logs on the server: append-only files, one per step attempt, and who is watching.

Workers append chunks at byte offsets, so a resent chunk is recognised and dropped, and a
chunk that would leave a hole is refused. A log never grows past `max_bytes`: output is
kept up to `max_bytes` minus the length of a note saying so, then the note ends the log —
never a silent cut. Only the note reaches past that point, so a log's size alone tells
whether it is full (also after a restart of the server). Readers (raw download, tail, live
SSE streams) read the file; `LogBroker` wakes live streams when something was appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from shipline.errors import ShiplineError

DEFAULT_MAX_BYTES = 1024**3  # 1 GiB


class LogGapError(ShiplineError):
    """A chunk was sent for an offset past the end of the log (an earlier chunk is missing)."""


@dataclass(frozen=True)
class LogKey:
    pipeline_id: int
    step_key: str
    attempt: int


class LogBroker:
    """Wakes the asyncio tasks streaming a log when it grows or its step ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[LogKey, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )

    def subscribe(self, key: LogKey) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters[key].add((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, key: LogKey, event: asyncio.Event) -> None:
        with self._lock:
            waiters = self._waiters.get(key, set())
            for waiter in [w for w in waiters if w[1] is event]:
                waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(key, None)

    def publish(self, key: LogKey) -> None:
        """Called from any thread."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        self._wake(waiters)

    def publish_pipeline(self, pipeline_id: int) -> None:
        """Wake every stream of the pipeline's logs (called from any thread)."""
        with self._lock:
            waiters = [
                waiter
                for key, found in self._waiters.items()
                if key.pipeline_id == pipeline_id
                for waiter in found
            ]
        self._wake(waiters)

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)


class LogStore:
    """The files under `root`/<pipeline id>/<step key>.<attempt>.log."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.broker = LogBroker()
        self._locks: dict[LogKey, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self._note = (
            f"\n[shipline] this log reached its limit of {max_bytes} bytes; "
            "the rest of the step's output is not kept\n"
        ).encode()
        # Output is kept up to here, so that the note still fits within max_bytes.
        self._room = max(0, max_bytes - len(self._note))

    def path(self, key: LogKey) -> Path:
        return self.root / str(key.pipeline_id) / f"{key.step_key}.{key.attempt}.log"

    def size(self, key: LogKey) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return 0

    def _lock(self, key: LogKey) -> threading.Lock:
        with self._guard:
            return self._locks[key]

    def append(self, key: LogKey, offset: int, data: bytes) -> int:
        """Write `data` at `offset`; returns the log's size afterwards.

        A chunk that is already (wholly or partly) in the log is written from where the log
        ends; one that starts past the end raises LogGapError.
        """
        with self._lock(key):
            path = self.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            size = self.size(key)
            if size > self._room:  # only the note gets past `_room`: the log is full, and
                return size  # the worker keeps sending what is no longer kept
            if offset > size:
                raise LogGapError(f"chunk at byte {offset} but the log has {size} bytes")
            fresh = data[size - offset :]
            if not fresh:
                return size
            if size + len(fresh) > self._room:
                fresh = fresh[: max(0, self._room - size)] + self._note
            with open(path, "ab") as log:
                log.write(fresh)
            size += len(fresh)
        self.broker.publish(key)
        return size

    def read(self, key: LogKey, offset: int, length: int) -> bytes:
        try:
            with open(self.path(key), "rb") as log:
                log.seek(offset)
                return log.read(length)
        except FileNotFoundError:
            return b""

    def tail(self, key: LogKey, lines: int) -> bytes:
        """The last `lines` lines, read backwards in blocks (never the whole file)."""
        path = self.path(key)
        try:
            log = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return b""
        with log:
            end = log.seek(0, os.SEEK_END)
            position, data = end, b""
            while position > 0 and data.count(b"\n") <= lines:
                step = min(65536, position)
                position -= step
                log.seek(position)
                data = log.read(step) + data
            parts = data.split(b"\n")
            if data.endswith(b"\n"):
                parts = parts[:-1]
            kept = parts[-lines:] if lines > 0 else []
            return b"\n".join(kept) + (b"\n" if kept and data.endswith(b"\n") else b"")

    def finished(self, key: LogKey) -> None:
        """The step attempt ended: wake the streams so they can say so, and forget its
        write lock (no chunk is accepted for an attempt that has ended)."""
        self.broker.publish(key)
        with self._guard:
            lock = self._locks.get(key)
            if lock is not None and lock.acquire(blocking=False):
                del self._locks[key]
                lock.release()

    def pipeline_looked_at(self, pipeline_id: int) -> None:
        """The orchestrator moved the pipeline on: a step may have ended without running."""
        self.broker.publish_pipeline(pipeline_id)
