"""Mask secured variables in step output: each occurrence of a value becomes ``$NAME``.

Output reaches the log as arbitrary byte chunks, so `SecretMasker` works on a stream: a secret
split across chunks (even byte by byte) is still masked, and the result of feeding chunks is
exactly the result of masking the whole text at once.

What is masked, compared as UTF-8 bytes:

- every non-empty value, replaced by ``$`` + its variable's name (the first name wins when two
  variables hold the same value);
- for a value containing a newline (a private key, a certificate), also the value with
  ``\\r\\n`` line ends (a terminal turns ``\\n`` into ``\\r\\n``) and each of its lines of 8
  characters or more on its own, because programs often print keys line by line.

Where occurrences meet, the longest secret starting at a position wins (a secret inside a longer
one never shows up as its own name), and occurrences that overlap are masked as one span whose
replacement names each secret that extends it, e.g. secrets ``A=abcd`` and ``B=cdef`` turn
``abcdef`` into ``$A$B`` rather than ``$Aef`` — no byte of either value is left in clear.

Streaming: `feed` emits everything except a tail that may still become a secret (the longest
suffix that is a proper prefix of some secret, so at most longest-secret-length − 1 bytes);
`flush` ends the stream, emits that tail masked and resets the masker, so the next `feed`
starts a new stream. A masker is not thread-safe: use one per stream.

Limit: the replacement text itself is not re-examined, so a value that shares text with a
variable name can reappear around a ``$NAME`` (a variable whose value is its own name, say);
nothing can prevent that one.

Performance: with no secrets, `feed` returns its argument itself. With a few secrets the common
chunk (no secret in it) costs one `bytes.__contains__` scan per secret, which runs at several
GB/s; only chunks that contain a secret go through a compiled regular expression. Measured on
this machine (Python 3.11, 50 MB of generated log text fed in 1 MiB chunks, best of 5):
BENCHMARK_FIGURES
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MIN_LINE_CHARS = 8  # lines of a multi-line value shorter than this are too common to mask

# Above this many patterns, one regex scan is cheaper than one substring scan per pattern.
_SUBSTRING_PRECHECK_MAX = 12


class SecretMasker:
    """Replaces secured values in a byte stream with $NAME, also across chunk boundaries."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._tokens = _replacements(secrets)
        # Longest first: at one position the regex takes the first alternative that matches.
        ordered = sorted(self._tokens, key=lambda p: (-len(p), p))
        self._patterns = tuple((p, p[:1]) for p in ordered)
        self._longest = len(ordered[0]) if ordered else 0
        self._regex = re.compile(b"|".join(map(re.escape, ordered))) if ordered else None
        # A pattern that contains another can only occur where the other does.
        minimal = [p for p in ordered if not any(q != p and q in p for q in ordered)]
        self._precheck = tuple(minimal) if len(minimal) <= _SUBSTRING_PRECHECK_MAX else None
        self._held = b""  # stream tail not decided yet (starts at an undecided position)
        self._covered = 0  # leading bytes of _held inside a span already replaced
        self._last = b""  # replacement emitted last for that open span

    @property
    def active(self) -> bool:
        return self._regex is not None

    def feed(self, data: bytes) -> bytes:
        """Mask `data`, the next chunk of the stream; returns what can be emitted now."""
        if self._regex is None:
            return data
        buf = self._held + data if self._held else data
        return self._advance(buf, self._undecided_from(buf))

    def flush(self) -> bytes:
        """End of stream: everything held back, masked. The masker is then ready for a new stream."""
        if self._regex is None:
            return b""
        held = self._held
        return self._advance(held, len(held))

    def _undecided_from(self, buf: bytes) -> int:
        """The first position whose masking depends on bytes not received yet, else len(buf).

        That is the start of the longest suffix of `buf` that is a proper prefix of a pattern;
        at any earlier position every pattern can be compared in full.
        """
        size = len(buf)
        first = size
        for pattern, head in self._patterns:
            at = buf.find(head, max(0, size - len(pattern) + 1), first)
            while at != -1:
                if pattern.startswith(memoryview(buf)[at:]):
                    first = at  # later patterns only matter if they start even earlier
                    break
                at = buf.find(head, at + 1, first)
        return first

    def _advance(self, buf: bytes, limit: int) -> bytes:
        """Mask occurrences starting before `limit`, emit up to `limit`, hold the rest."""
        assert self._regex is not None
        # Everything before `end` is emitted or masked; a masked span ending there may grow.
        end = self._covered
        last = self._last
        parts: list[bytes] = []
        if self._precheck is None or any(p in buf for p in self._precheck):
            regex, longest = self._regex, self._longest
            match = regex.search(buf)
            while match is not None and (start := match.start()) < limit:
                stop = match.end()
                if stop > end:  # an occurrence inside the open span changes nothing
                    token = self._tokens[match.group()]
                    if start >= end:  # a new span: the clear text before it goes first
                        parts.append(buf[end:start])
                        parts.append(token)
                    elif token != last:  # overlaps the open span and reaches further
                        parts.append(token)
                    last = token
                    end = stop
                # An occurrence starting at or before end - longest cannot reach past `end`.
                match = regex.search(buf, max(start + 1, end - longest + 1))
        if limit > end:
            parts.append(buf[end:limit])
        self._held = buf[limit:]
        self._covered = max(0, end - limit)
        self._last = last if self._covered else b""
        if len(parts) == 1:
            return parts[0]  # the whole chunk when nothing was masked or held: no copy
        return b"".join(parts)


def _replacements(secrets: Mapping[str, str]) -> dict[bytes, bytes]:
    """Every byte pattern to mask, with its replacement; whole values take precedence."""
    tokens: dict[bytes, bytes] = {}
    lines: list[tuple[bytes, bytes]] = []
    for name, value in secrets.items():
        if not value:
            continue
        token = b"$" + name.encode()
        tokens.setdefault(value.encode(), token)
        if "\n" in value:
            if "\r" not in value:
                tokens.setdefault(value.replace("\n", "\r\n").encode(), token)
            for line in value.split("\n"):
                line = line.removesuffix("\r")
                if len(line) >= MIN_LINE_CHARS:
                    lines.append((line.encode(), token))
    for line, token in lines:
        tokens.setdefault(line, token)
    return tokens
