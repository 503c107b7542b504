"""web.logindex: line counts, line ranges, search and command sections of append-only log
files — checked against splitting the whole file, on small files with tiny blocks (so every
boundary case is met), on a 1,000,000-line file, and as a file grows."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.server.web import logindex
from shipline.server.web.ansi import strip_escapes
from shipline.server.web.logindex import LineIndex, index_for


def split(data: bytes) -> list[bytes]:
    """The lines of a log as the index counts them."""
    lines = data.split(b"\n")
    return lines[:-1] if lines[-1] == b"" else lines


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


LOGS = st.lists(st.sampled_from([b"a", b"B", b"\n", b"\n", b"+ ", b"ab", b"\xc3\xa9", b"\x1b[31m"]),
                max_size=60).map(b"".join)  # fmt: skip
TMP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@TMP
@given(LOGS, st.integers(1, 5), st.integers(1, 9), st.data())
def test_counts_and_ranges_match_splitting_the_file(
    tmp_path: Path, data: bytes, every: int, block: int, draw: st.DataObject
) -> None:
    index = LineIndex(written(tmp_path / "log", data), every=every, block=block)
    index.refresh()
    lines = split(data)
    assert index.line_count == len(lines)
    assert index.size == len(data)
    for _ in range(3):
        start = draw.draw(st.integers(0, len(lines) + 2))
        count = draw.draw(st.integers(0, len(lines) + 2))
        assert index.read_lines(start, count) == lines[start : start + count]
    assert index.read_lines(0, 10**6, max_bytes=1) == [line[:1] for line in lines]
    assert [length for _, length in index.iter_lines(0)] == [len(line) for line in lines]


@TMP
@given(LOGS, st.integers(1, 4), st.integers(1, 7), st.sampled_from(["a", "ab", "é", "+", "B"]),
       st.integers(1, 6))  # fmt: skip
def test_search_matches_splitting_the_file(
    tmp_path: Path, data: bytes, every: int, block: int, needle: str, limit: int
) -> None:
    index = LineIndex(written(tmp_path / "log", data), every=every, block=block)
    index.refresh()
    lines = split(data)
    plain = [strip_escapes(line).decode("utf-8", "replace").lower() for line in lines]
    expected = [n for n, line in enumerate(plain) if needle.lower() in line]
    assert index.search(needle, limit, clean=strip_escapes) == expected[:limit]


@TMP
@given(LOGS, st.integers(1, 4), st.integers(1, 7), st.integers(-1, 30))
def test_next_line_starting_matches_splitting_the_file(
    tmp_path: Path, data: bytes, every: int, block: int, after: int
) -> None:
    index = LineIndex(written(tmp_path / "log", data), every=every, block=block)
    index.refresh()
    lines = split(data)
    expected = next((n for n in range(after + 1, len(lines)) if lines[n].startswith(b"+ ")), None)
    assert index.next_line_starting(b"+ ", after) == expected


@TMP
@given(st.lists(LOGS, min_size=1, max_size=5), st.integers(1, 4), st.integers(1, 7))
def test_an_index_extended_by_appends_equals_one_built_at_once(
    tmp_path: Path, parts: list[bytes], every: int, block: int
) -> None:
    path = written(tmp_path / "log", b"")
    growing = LineIndex(path, every=every, block=block)
    so_far = b""
    for part in parts:
        with open(path, "ab") as log:
            log.write(part)
        so_far += part
        growing.refresh()
        assert growing.line_count == len(split(so_far))
        assert growing.read_lines(0, 10**6) == split(so_far)
    whole = LineIndex(path, every=every, block=block)
    whole.refresh()
    assert [growing.checkpoint(j) for j in range(growing.checkpoints)] == [
        whole.checkpoint(j) for j in range(whole.checkpoints)
    ]
    assert growing.generation == 0


def test_case_is_ignored_and_colour_codes_do_not_hide_a_match(tmp_path: Path) -> None:
    index = LineIndex(
        written(tmp_path / "log", b"Error one\nfine\n\x1b[31mERR\x1b[0mOR two\nerror")
    )
    index.refresh()
    assert index.search("error", 10, clean=strip_escapes) == [0, 2, 3]
    assert index.search("error", 10) == [0, 3]  # without cleaning, the colour code splits it
    assert index.search("error", 2, clean=strip_escapes) == [0, 2]
    assert index.search("", 10) == []
    assert index.search("a\nb", 10) == []
    assert index.search("ÉTÉ", 10) == []


def test_non_ascii_search_ignores_case_too(tmp_path: Path) -> None:
    index = LineIndex(written(tmp_path / "log", "x\nÉté\nété\n".encode()))
    index.refresh()
    assert index.search("ÉTÉ", 10) == [1, 2]


def test_a_line_longer_than_the_search_window_is_searched_in_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logindex, "SEARCH_LINE_BYTES", 8)
    data = b"x\n" + b"a" * 30 + b"needle" + b"a" * 30 + b"\nneedle\n" + b"b" * 20 + b"NEEDLE"
    index = LineIndex(written(tmp_path / "log", data), block=4)
    index.refresh()
    assert index.search("needle", 10) == [2]
    assert index.search("aaa", 10) == [1]
    assert index.search("x", 10) == [0]


def test_long_lines_are_read_cut_but_counted_whole(tmp_path: Path) -> None:
    data = b"short\n" + b"y" * 5000 + b"\nafter\n"
    index = LineIndex(written(tmp_path / "log", data), every=1, block=64)
    index.refresh()
    assert list(index.iter_lines(0, max_bytes=10)) == [
        (b"short", 5),
        (b"y" * 10, 5000),
        (b"after", 5),
    ]
    assert index.read_lines(2, 1) == [b"after"]


def test_a_missing_file_is_an_empty_log_and_a_replaced_one_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "log"
    index = LineIndex(path, every=2)
    index.refresh()
    assert index.line_count == 0
    assert index.read_lines(0, 5) == []
    assert index.next_line_starting(b"+ ", -1) is None
    path.write_bytes(b"1\n2\n3\n4\n5\n")
    index.refresh()
    assert index.line_count == 5
    replacement = tmp_path / "new"
    replacement.write_bytes(b"only\n")
    os.replace(replacement, path)  # a new file (inode) at the same path
    index.refresh()
    assert index.generation == 1
    assert index.read_lines(0, 5) == [b"only"]


def test_index_for_keeps_one_index_per_log_and_brings_it_up_to_date(tmp_path: Path) -> None:
    path = written(tmp_path / "log", b"a\nb\n")
    first = index_for(path)
    assert first.line_count == 2
    with open(path, "ab") as log:
        log.write(b"c\nd")
    again = index_for(path)
    assert again is first
    assert again.line_count == 4
    assert again.read_lines(2, 5) == [b"c", b"d"]


# ---- a 1,000,000-line log -----------------------------------------------------------------

MILLION = 1_000_000


def line_text(n: int) -> bytes:
    return b"%07d step output, line %d of the big log" % (n, n) + (b" +" * (n % 7))


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.log"
    with open(path, "wb") as log:
        for start in range(0, MILLION, 100_000):
            log.write(b"\n".join(line_text(n) for n in range(start, start + 100_000)) + b"\n")
    return path


def test_a_million_line_log_is_counted_and_read_anywhere(big_log: Path) -> None:
    index = LineIndex(big_log)
    began = time.perf_counter()
    index.refresh()
    scanned = time.perf_counter() - began
    assert index.line_count == MILLION
    assert index.checkpoints == MILLION // logindex.EVERY + 1
    assert scanned < 10, f"scanning {big_log.stat().st_size} bytes took {scanned:.1f} s"
    chance = random.Random(20261201)
    for _ in range(200):
        start = chance.randrange(MILLION)
        count = chance.randrange(1, 600)
        expected = [line_text(n) for n in range(start, min(MILLION, start + count))]
        assert index.read_lines(start, count) == expected
    assert index.read_lines(MILLION - 2, 5) == [line_text(MILLION - 2), line_text(MILLION - 1)]
    assert index.read_lines(MILLION, 5) == []
    assert index.search("LINE 999999 OF", 5) == [999_999]
    assert index.search("step output", 3) == [0, 1, 2]


def test_a_million_line_log_is_extended_by_what_is_appended(big_log: Path, tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(big_log.read_bytes())  # a copy: the module's file stays as it is
    index = LineIndex(path)
    index.refresh()
    size = index.size
    with open(path, "ab") as log:
        log.write(b"appended 1\nappended 2\n+ a command\nhalf a li")
    reads: list[int] = []
    real_scan = index._scan
    index._scan = lambda end: (reads.append(end - index.size), real_scan(end))[1]  # type: ignore[method-assign]
    index.refresh()
    assert reads == [path.stat().st_size - size]  # only the appended bytes were scanned
    assert index.line_count == MILLION + 4
    tail = [line_text(MILLION - 1), b"appended 1", b"appended 2", b"+ a command", b"half a li"]
    assert index.read_lines(MILLION - 1, 10) == tail
    assert index.next_line_starting(b"+ ", MILLION - 10) == MILLION + 2
    with open(path, "ab") as log:
        log.write(b"ne\n")
    index.refresh()
    assert index.line_count == MILLION + 4
    assert index.read_lines(MILLION + 3, 1) == [b"half a line"]
