"""`LogShipper` ships a step's output to the server in batches, at contiguous byte offsets,
from a thread of its own: tiny writes are gathered, big ones split into chunks of at most
256 KiB, failed sends retried, and `close()` sends what is left."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from shipline.errors import ShiplineError
from shipline.server.logs import LogKey, LogStore
from shipline.worker import log_shipper
from shipline.worker.log_shipper import CHUNK_BYTES, LogShipper
from shipline.worker.protocol import Assignment

JOB = Assignment(
    job_id=1, attempt=1, token="job-token", pipeline_id=1, repo="shop", build_number=1,
    step_key="build", commit="0" * 40, event={}, pipeline_file="", source="/nowhere",
)  # fmt: skip


class RecordingClient:
    """The one WorkerClient call a LogShipper makes, kept in memory: (offset, data) per call.

    `failures` makes the next that many calls raise ShiplineError (a server that is away).
    """

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.attempts = 0
        self.failures = failures
        self.lock = threading.Lock()

    def append_log(self, job: Assignment, offset: int, data: bytes) -> None:
        assert job is JOB
        with self.lock:
            self.attempts += 1
            if self.failures:
                self.failures -= 1
                raise ShiplineError("server unavailable")
            self.calls.append((offset, bytes(data)))

    def received(self) -> bytes:
        with self.lock:
            return b"".join(data for _, data in self.calls)

    def assert_contiguous(self) -> None:
        expected = 0
        for offset, data in self.calls:
            assert offset == expected, [(o, len(d)) for o, d in self.calls]
            expected += len(data)


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def shipper(client: object) -> LogShipper:
    return LogShipper(client, JOB)  # type: ignore[arg-type]


def test_many_tiny_writes_are_sent_in_a_few_batches_at_contiguous_offsets() -> None:
    client = RecordingClient()
    ship = shipper(client)
    expected = bytearray()
    for n in range(20_000):
        piece = f"line {n}\n".encode() if n % 3 else b"."
        assert ship.write(piece) == len(piece)
        expected += piece
    ship.close()
    assert client.received() == bytes(expected)
    assert len(client.calls) < 50  # far fewer calls than the 20,000 writes
    client.assert_contiguous()
    assert ship.offset == len(expected)


def test_a_small_write_is_sent_within_the_flush_interval_without_close() -> None:
    client = RecordingClient()
    ship = shipper(client)
    try:
        started = time.monotonic()
        ship.write(b"$ make\n")
        wait_until(lambda: client.received() == b"$ make\n")
        assert time.monotonic() - started < 2  # 100 ms by design; generous for a busy machine
        ship.write(b"done\n")
        wait_until(lambda: client.received() == b"$ make\ndone\n")
        assert client.calls == [(0, b"$ make\n"), (7, b"done\n")]
    finally:
        ship.close()


def test_close_sends_everything_still_buffered() -> None:
    client = RecordingClient()
    ship = shipper(client)
    ship.write(b"last words")
    ship.write(b"")  # nothing to send: not a call
    ship.close()
    assert client.calls == [(0, b"last words")]


def test_close_without_any_output_sends_nothing() -> None:
    client = RecordingClient()
    shipper(client).close()
    assert client.attempts == 0


def test_a_large_write_is_split_into_chunks_of_at_most_256_kib() -> None:
    client = RecordingClient()
    ship = shipper(client)
    data = bytes(range(256)) * (4 * CHUNK_BYTES // 256) + b"tail!"
    ship.write(data)
    ship.close()
    assert CHUNK_BYTES == 256 * 1024
    assert all(len(chunk) <= CHUNK_BYTES for _, chunk in client.calls)
    assert [len(chunk) for _, chunk in client.calls] == [CHUNK_BYTES] * 4 + [5]
    client.assert_contiguous()
    assert client.received() == data


def test_a_client_that_fails_twice_then_succeeds_still_gets_every_byte_in_order() -> None:
    client = RecordingClient(failures=2)
    ship = shipper(client)
    written = bytearray()
    for n in range(1000):
        piece = f"output {n}\n".encode()
        ship.write(piece)
        written += piece
    ship.close()
    assert client.attempts == len(client.calls) + 2
    assert client.received() == bytes(written)
    client.assert_contiguous()


def test_a_log_delivered_after_retries_is_not_reported_as_incomplete(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = RecordingClient(failures=2)
    ship = shipper(client)
    ship.write(b"every byte arrives\n")
    with caplog.at_level(logging.WARNING, logger=log_shipper.__name__):
        ship.close()
    assert client.received() == b"every byte arrives\n"
    assert "not fully shipped" not in caplog.text


def test_a_slow_server_never_slows_the_writer() -> None:
    release = threading.Event()

    class BlockedClient(RecordingClient):
        def append_log(self, job: Assignment, offset: int, data: bytes) -> None:
            release.wait(30)
            super().append_log(job, offset, data)

    client = BlockedClient()
    ship = shipper(client)
    started = time.monotonic()
    for _ in range(200):
        ship.write(b"x" * 10_000)  # 2 MB while the first send hangs
    assert time.monotonic() - started < 1
    release.set()
    ship.close()
    assert client.received() == b"x" * 2_000_000
    client.assert_contiguous()


def test_output_after_failed_sends_still_reaches_the_server_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LogStore(tmp_path / "logs")
    key = LogKey(JOB.pipeline_id, JOB.step_key, JOB.attempt)

    class StoreClient(RecordingClient):
        """Appends to a real LogStore, as the server's JobService does."""

        def append_log(self, job: Assignment, offset: int, data: bytes) -> None:
            super().append_log(job, offset, data)
            store.append(key, offset, data)

    monkeypatch.setattr(
        log_shipper, "time", SimpleNamespace(sleep=lambda seconds: None, monotonic=time.monotonic)
    )
    client = StoreClient(failures=3)  # the server is away for the first three sends
    ship = shipper(client)
    ship.write(b"printed while the server was away\n")
    wait_until(lambda: client.attempts >= 3)
    ship.write(b"printed once the server is back\n")
    ship.close()
    assert store.read(key, 0, 10_000) == (
        b"printed while the server was away\nprinted once the server is back\n"
    )


def test_a_server_gone_for_good_is_given_up_on_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(log_shipper, "CLOSE_GRACE_SECONDS", 0.3)
    client = RecordingClient(failures=10**6)
    ship = shipper(client)
    ship.write(b"nobody hears this\n")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=log_shipper.__name__):
        ship.close()
    assert time.monotonic() - started < 10
    assert "the last 18 bytes never reached the server" in caplog.text
