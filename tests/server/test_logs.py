"""The server's step logs (`LogStore`): chunks appended at byte offsets, resends and overlaps,
gaps, the size limit, tails read backwards, concurrent writers; and `LogBroker` waking an
asyncio stream from another thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from shipline.server.logs import LogGapError, LogKey, LogStore

KEY = LogKey(pipeline_id=7, step_key="build", attempt=1)
BLOCK = 65536  # the block LogStore.tail reads backwards by


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "logs")


def _lines(count: int, width: int = 100) -> bytes:
    """`count` distinct lines of `width` bytes each (newline included)."""
    return b"".join(f"line {n:06d} ".ljust(width - 1, "x").encode() + b"\n" for n in range(count))


def test_appended_chunks_are_read_back_in_order(store: LogStore) -> None:
    assert store.append(KEY, 0, b"hello ") == 6
    assert store.append(KEY, 6, b"world\n") == 12
    assert store.read(KEY, 0, 1000) == b"hello world\n"
    assert store.read(KEY, 6, 3) == b"wor"
    assert store.size(KEY) == 12
    assert store.path(KEY) == store.root / "7" / "build.1.log"


def test_logs_of_other_attempts_and_steps_are_separate_files(store: LogStore) -> None:
    store.append(KEY, 0, b"first attempt\n")
    store.append(LogKey(7, "build", 2), 0, b"second attempt\n")
    store.append(LogKey(7, "test", 1), 0, b"another step\n")
    assert store.read(KEY, 0, 100) == b"first attempt\n"
    assert store.read(LogKey(7, "build", 2), 0, 100) == b"second attempt\n"
    assert store.read(LogKey(7, "test", 1), 0, 100) == b"another step\n"


def test_a_chunk_sent_again_at_the_same_offset_is_ignored(store: LogStore) -> None:
    store.append(KEY, 0, b"one\n")
    store.append(KEY, 4, b"two\n")
    assert store.append(KEY, 4, b"two\n") == 8  # the worker resent it (lost answer)
    assert store.append(KEY, 0, b"one\n") == 8
    assert store.read(KEY, 0, 100) == b"one\ntwo\n"


def test_a_chunk_overlapping_the_end_writes_only_its_new_part(store: LogStore) -> None:
    store.append(KEY, 0, b"abcdef")
    assert store.append(KEY, 3, b"defghi") == 9
    assert store.read(KEY, 0, 100) == b"abcdefghi"


def test_a_chunk_past_the_end_is_refused_as_a_gap(store: LogStore) -> None:
    store.append(KEY, 0, b"abc")
    with pytest.raises(LogGapError, match="chunk at byte 5 but the log has 3 bytes"):
        store.append(KEY, 5, b"fgh")
    with pytest.raises(LogGapError):
        store.append(LogKey(8, "new", 1), 1, b"x")  # nothing yet: only offset 0 fits
    assert store.read(KEY, 0, 100) == b"abc"
    assert store.append(KEY, 3, b"de") == 5  # the missing chunk, then the rest, is fine
    assert store.append(KEY, 5, b"fgh") == 8
    assert store.read(KEY, 0, 100) == b"abcdefgh"


def test_the_size_limit_ends_the_log_with_one_note_and_drops_the_rest(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs", max_bytes=1000)
    offset = 0
    for _ in range(30):  # 3000 bytes sent, in 100-byte chunks
        chunk = b"y" * 99 + b"\n"
        store.append(KEY, offset, chunk)
        offset += len(chunk)
    log = store.read(KEY, 0, 10_000)
    note = b"[shipline] this log reached its limit of 1000 bytes"
    assert log.count(note) == 1
    assert log.endswith(b"the rest of the step's output is not kept\n")
    assert log.startswith(b"y" * 99 + b"\n")
    assert set(log[: log.index(b"\n[shipline]")]) <= set(b"y\n")
    assert len(log) <= 1000
    size = store.size(KEY)
    assert store.append(KEY, offset, b"more output\n") == size  # accepted, not kept
    assert store.append(KEY, offset + 10_000, b"even a gap\n") == size  # no error either
    assert store.read(KEY, 0, 10_000) == log


def test_a_single_chunk_larger_than_the_limit_is_cut_with_the_note(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs", max_bytes=4096)
    store.append(KEY, 0, b"z" * 10_000)
    log = store.read(KEY, 0, 20_000)
    assert len(log) <= 4096
    assert log.startswith(b"z" * 3900)
    assert log.endswith(b"the rest of the step's output is not kept\n")


def test_a_log_below_the_limit_gets_no_note(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs", max_bytes=1000)
    store.append(KEY, 0, b"q" * 800)
    assert store.read(KEY, 0, 2000) == b"q" * 800


def test_a_full_log_stays_full_after_a_restart_of_the_server(tmp_path: Path) -> None:
    LogStore(tmp_path / "logs", max_bytes=1000).append(KEY, 0, b"w" * 5000)
    again = LogStore(tmp_path / "logs", max_bytes=1000)  # nothing kept in memory
    full = again.read(KEY, 0, 10_000)
    assert again.append(KEY, 5000, b"after the restart\n") == len(full)
    assert again.read(KEY, 0, 10_000) == full
    assert full.count(b"reached its limit") == 1


@pytest.mark.parametrize("trailing_newline", [True, False], ids=["newline-end", "no-newline"])
def test_tail_reads_the_last_lines_of_a_log_larger_than_a_block(
    store: LogStore, trailing_newline: bool
) -> None:
    text = _lines(3000)  # 300,000 bytes: several 64 KiB blocks
    if not trailing_newline:
        text = text[:-1]
    store.append(KEY, 0, text)
    end = b"\n" if trailing_newline else b""
    lines = text.split(b"\n")
    if trailing_newline:
        lines = lines[:-1]
    assert store.tail(KEY, 1) == lines[-1] + end
    assert store.tail(KEY, 3) == b"\n".join(lines[-3:]) + end
    # More lines than one block holds: the tail crosses several block boundaries.
    many = 2 * BLOCK // 100 + 7
    assert store.tail(KEY, many) == b"\n".join(lines[-many:]) + end
    assert store.tail(KEY, 3000) == text
    assert store.tail(KEY, 10_000) == text


def test_tail_of_a_line_longer_than_a_block(store: LogStore) -> None:
    long_line = b"L" * (3 * BLOCK + 5) + b"\n"
    store.append(KEY, 0, b"first\n" + long_line + b"last\n")
    assert store.tail(KEY, 2) == long_line + b"last\n"
    assert store.tail(KEY, 3) == b"first\n" + long_line + b"last\n"


def test_tail_of_zero_lines_and_of_a_missing_log_is_empty(store: LogStore) -> None:
    assert store.tail(KEY, 5) == b""
    assert store.read(KEY, 0, 10) == b""
    assert store.size(KEY) == 0
    store.append(KEY, 0, b"a\nb\n")
    assert store.tail(KEY, 0) == b""


def test_threads_appending_at_their_offsets_produce_the_exact_bytes(store: LogStore) -> None:
    """Several writers send the same chunks at their offsets concurrently (a worker and its
    own retry, say); chunks may arrive out of order and are retried after a gap."""
    chunks = [bytes([65 + n % 26]) * (1000 + n) + b"\n" for n in range(200)]
    offsets = [sum(len(c) for c in chunks[:n]) for n in range(len(chunks))]
    expected = b"".join(chunks)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(order: list[int]) -> None:
        start.wait()
        try:
            for n in order:
                while True:  # a gap means an earlier chunk is still on its way: retry
                    try:
                        store.append(KEY, offsets[n], chunks[n])
                        break
                    except LogGapError:
                        pass
        except BaseException as exc:
            errors.append(exc)
            raise

    orders = [list(range(200)), list(range(200)), list(range(0, 200, 2)), list(range(1, 200, 2))]
    threads = [threading.Thread(target=writer, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert store.read(KEY, 0, len(expected) + 1) == expected


def test_the_broker_wakes_an_asyncio_waiter_when_another_thread_publishes(
    store: LogStore,
) -> None:
    async def follow() -> bytes:
        wake = store.broker.subscribe(KEY)
        try:
            writer = threading.Thread(target=store.append, args=(KEY, 0, b"from a thread\n"))
            writer.start()
            await asyncio.wait_for(wake.wait(), 10)
            writer.join()
            return store.read(KEY, 0, 100)
        finally:
            store.broker.unsubscribe(KEY, wake)

    assert asyncio.run(follow()) == b"from a thread\n"


def test_the_broker_wakes_every_subscriber_of_a_key_and_only_those(store: LogStore) -> None:
    other = LogKey(7, "other", 1)

    async def follow() -> tuple[bool, bool, bool]:
        first, second = store.broker.subscribe(KEY), store.broker.subscribe(KEY)
        unrelated = store.broker.subscribe(other)
        thread = threading.Thread(target=store.finished, args=(KEY,))
        thread.start()
        await asyncio.wait_for(asyncio.gather(first.wait(), second.wait()), 10)
        thread.join()
        await asyncio.sleep(0)  # anything scheduled for `unrelated` would have run by now
        for key, event in ((KEY, first), (KEY, second), (other, unrelated)):
            store.broker.unsubscribe(key, event)
        return first.is_set(), second.is_set(), unrelated.is_set()

    assert asyncio.run(follow()) == (True, True, False)
    store.broker.publish(KEY)  # nobody listens any more: nothing to do, no error


def test_publishing_to_a_closed_event_loop_is_harmless(store: LogStore) -> None:
    async def subscribe_and_leave() -> None:
        store.broker.subscribe(KEY)  # never unsubscribed: its loop is gone afterwards

    asyncio.run(subscribe_and_leave())
    store.append(KEY, 0, b"still fine\n")
    assert store.read(KEY, 0, 100) == b"still fine\n"


def test_an_ended_attempt_leaves_no_write_lock_behind(store: LogStore) -> None:
    keys = [LogKey(1, f"step-{n}", 1) for n in range(200)]
    for key in keys:
        store.append(key, 0, b"output\n")
        store.finished(key)
    assert store._locks == {}  # a long-running server does not grow per attempt
    assert all(store.read(key, 0, 100) == b"output\n" for key in keys)
