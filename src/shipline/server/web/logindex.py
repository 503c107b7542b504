"""A line index of an append-only log file: any range of lines without reading the whole file.

`LineIndex` keeps the byte offset of every `every`th line (a few thousand integers for a
100 MB log), found by one scan that counts line breaks in 1 MiB blocks with `bytes.count`
(C speed; no per-line Python work). A log only ever grows, so a later look scans just the
bytes appended since. Reading lines N.. seeks to the offset of the checkpoint at or before N
and skips fewer than `every` lines. `index_for` keeps the indexes of recently read logs in
memory, each remembering the size it has scanned.

Lines are counted from 0 here; a line is its bytes up to (not including) its `\\n`, and the
last line of a log that does not end with `\\n` (a step still writing) is a line too.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import AnyStr, BinaryIO

BLOCK = 1024 * 1024
EVERY = 1000
SEARCH_LINE_BYTES = 1024 * 1024  # of a longer line, only this much is searched
CACHED_INDEXES = 64


class LineIndex:
    """Offsets of every `every`th line of the file at `path`, extended as it grows."""

    def __init__(self, path: Path, every: int = EVERY, block: int = BLOCK) -> None:
        self.path = path
        self.every = every
        self.block = block
        # Bumped when the file was replaced (or shrank) and the index started over, so that
        # whatever a reader derived from the old contents can be dropped.
        self.generation = 0
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None
        self._offsets = [0]  # _offsets[j] is where line j * every starts
        self._size = 0  # bytes scanned
        self._newlines = 0  # line breaks in them
        self._open_line = False  # the scanned bytes end inside a line
        self._spacing = 80  # bytes per line lately: where to look for the next checkpoint

    # ---- building ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Take in what was appended since the last look (or start over if replaced)."""
        try:
            info = os.stat(self.path)
            identity, size = (info.st_dev, info.st_ino), info.st_size
        except FileNotFoundError:
            identity, size = None, 0
        with self._lock:
            if identity != self._identity or size < self._size:
                if self._size:
                    self.generation += 1
                self._identity = identity
                self._offsets, self._size, self._newlines, self._open_line = [0], 0, 0, False
            if size > self._size:
                self._scan(size)

    def _scan(self, end: int) -> None:
        with open(self.path, "rb") as log:
            log.seek(self._size)
            while self._size < end:
                block = log.read(min(self.block, end - self._size))
                if not block:  # shorter than stat said: take it in on the next look
                    break
                self._take(block, self._size)
                self._size += len(block)
                self._open_line = not block.endswith(b"\n")

    def _take(self, block: bytes, base: int) -> None:
        need = self.every - self._newlines % self.every  # line breaks to the next checkpoint
        position = 0
        while True:
            at, seen = _nth_newline(block, need, position, self._spacing)
            if at < 0:  # the next checkpoint is in a later block
                self._newlines += seen
                return
            self._offsets.append(base + at + 1)
            self._spacing = max(1, (at + 1 - position) // need)
            self._newlines += need
            position, need = at + 1, self.every

    # ---- what it knows -----------------------------------------------------------------

    @property
    def size(self) -> int:
        """The bytes taken in so far (reads never go past them)."""
        return self._size

    @property
    def line_count(self) -> int:
        with self._lock:
            return self._newlines + self._open_line

    def checkpoint(self, j: int) -> int:
        """Where line `j * every` starts (0 <= j < checkpoints)."""
        return self._offsets[j]

    @property
    def checkpoints(self) -> int:
        return len(self._offsets)

    def _snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self._size, self._newlines + self._open_line

    # ---- reading ----------------------------------------------------------------------

    def _line(self, log: BinaryIO, position: int, end: int, keep: int) -> tuple[bytes, int, int]:
        """The line at `position`: its first `keep` bytes, its length, where the next starts.
        Read in blocks, so that a line of a gigabyte costs no gigabyte of memory."""
        kept, length = b"", 0
        while position < end:
            piece = log.readline(min(self.block, end - position))
            if not piece:
                break
            position += len(piece)
            done = piece.endswith(b"\n")
            if done:
                piece = piece[:-1]
            length += len(piece)
            if len(kept) < keep:
                kept += piece[: keep - len(kept)]
            if done:
                break
        return kept, length, position

    def _seek_line(self, log: BinaryIO, line: int, end: int) -> int:
        """Position `log` at the start of `line` (which exists); returns that offset."""
        j = min(line // self.every, len(self._offsets) - 1)
        position = self._offsets[j]
        log.seek(position)
        for _ in range(line - j * self.every):
            position = self._line(log, position, end, 0)[2]
        return position

    def iter_lines(self, start: int, max_bytes: int | None = None) -> Iterator[tuple[bytes, int]]:
        """The lines from `start` on, as far as the index has scanned: each line's bytes
        (cut to `max_bytes`) and its whole length."""
        end, total = self._snapshot()
        if start >= total:
            return
        keep = end if max_bytes is None else max_bytes
        with open(self.path, "rb") as log:
            position = self._seek_line(log, max(0, start), end)
            for _ in range(max(0, start), total):
                data, length, position = self._line(log, position, end, keep)
                yield data, length

    def read_lines(self, start: int, count: int, max_bytes: int | None = None) -> list[bytes]:
        """Lines `start` to `start + count - 1` (fewer at the end of the log)."""
        lines: list[bytes] = []
        if count <= 0:
            return lines
        for data, _ in self.iter_lines(start, max_bytes):
            lines.append(data)
            if len(lines) == count:
                break
        return lines

    def search(
        self, pattern: str, limit: int, clean: Callable[[bytes], bytes] | None = None
    ) -> list[int]:
        """The first `limit` lines containing `pattern`, ignoring case, streaming through the
        file by blocks. `clean` (e.g. dropping colour codes) sees whole lines at a time and
        must keep their line breaks."""
        needle = pattern.lower()
        matches: list[int] = []
        if not needle or "\n" in needle or limit <= 0:
            return matches
        end, _ = self._snapshot()

        def hits(part: bytes, line: int) -> int:
            hay = clean(part) if clean else part
            if needle.isascii():  # bytes.lower is ASCII-only, and several times faster
                _lines_with(hay.lower(), needle.encode(), b"\n", line, matches, limit)
            else:
                text = hay.decode("utf-8", errors="replace").lower()
                _lines_with(text, needle, "\n", line, matches, limit)
            return line + part.count(b"\n")

        line, pending, overflow, position = 0, b"", False, 0
        with open(self.path, "rb") as log:
            while position < end and len(matches) < limit:
                block = log.read(min(self.block, end - position))
                if not block:
                    break
                position += len(block)
                last = block.rfind(b"\n")
                if last < 0:  # the line in `pending` goes on
                    if not overflow:
                        room = SEARCH_LINE_BYTES - len(pending)
                        pending, overflow = pending + block[:room], len(block) > room
                    continue
                # A line longer than SEARCH_LINE_BYTES: its rest up to its "\n" is dropped.
                head = block[block.find(b"\n") : last + 1] if overflow else block[: last + 1]
                line = hits(pending + head, line)
                rest = block[last + 1 :]
                pending, overflow = rest[:SEARCH_LINE_BYTES], len(rest) > SEARCH_LINE_BYTES
            if pending and len(matches) < limit:
                hits(pending, line)
        return matches

    def next_line_starting(self, prefix: bytes, after: int) -> int | None:
        """The first line after line `after` that starts with `prefix`, if any."""
        start = after + 1
        end, total = self._snapshot()
        if not prefix or start >= total:
            return None
        needle = b"\n" + prefix
        keep = len(needle) - 1
        with open(self.path, "rb") as log:
            position = self._seek_line(log, start, end)
            # buf starts with the line break before line `start`: a hit at h begins line
            # base + (line breaks in buf[:h]).
            buf, base = b"\n", start
            while True:
                block = log.read(min(self.block, end - position))
                position += len(block)
                buf += block
                hit = buf.find(needle)
                if hit >= 0:
                    return base + buf.count(b"\n", 0, hit)
                if not block:
                    return None
                base += buf.count(b"\n", 0, len(buf) - keep)
                buf = buf[len(buf) - keep :]


def _nth_newline(block: bytes, n: int, start: int, spacing: int) -> tuple[int, int]:
    """The index of the `n`th b"\\n" at or after `start`, or -1 and how many there are when
    the block holds fewer. Each byte is counted about once (not one `find` per line): count
    a little past where `spacing` bytes per line put it, then step back line by line."""
    expected = n * spacing
    low, below = start, 0  # `below` line breaks in block[start:low]
    high, step = start + expected + expected // 32 + 64, max(256, expected // 8)
    while True:
        high = min(len(block), high)
        inside = block.count(b"\n", low, high)
        if below + inside >= n:
            break
        if high == len(block):
            return -1, below + inside
        low, below, high, step = high, below + inside, high + step, step * 2
    while below + inside - n > 64:  # lines much shorter here than lately: halve
        middle = (low + high) // 2
        left = block.count(b"\n", low, middle)
        if below + left >= n:
            high, inside = middle, left
        else:
            low, below, inside = middle, below + left, inside - left
    at = high
    for _ in range(below + inside - n + 1):  # back from the last line break before `high`
        at = block.rfind(b"\n", low, at)
    return at, n


def _lines_with(
    hay: AnyStr, needle: AnyStr, newline: AnyStr, line: int, matches: list[int], limit: int
) -> None:
    """Append to `matches` the line numbers (the first being `line`) of the lines of `hay`
    that contain `needle`, until there are `limit`."""
    position = counted = 0
    while len(matches) < limit:
        hit = hay.find(needle, position)
        if hit < 0:
            return
        line += hay.count(newline, counted, hit)
        matches.append(line)
        end = hay.find(newline, hit)
        if end < 0:
            return
        position = counted = end + 1
        line += 1


_cache: OrderedDict[Path, LineIndex] = OrderedDict()
_cache_lock = threading.Lock()


def index_for(path: Path) -> LineIndex:
    """The index of the log at `path`, kept in memory and brought up to its current size."""
    with _cache_lock:
        index = _cache.get(path)
        if index is None:
            index = _cache[path] = LineIndex(path)
            if len(_cache) > CACHED_INDEXES:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(path)
    index.refresh()  # outside the cache's lock: a long first scan holds up only this log
    return index
