"""Bitbucket glob patterns, used for branch/tag selection and for file paths.

`*` and `?` never cross '/', `**` does, `{a,b}` lists alternatives, `[...]` is a character class.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Specificity:
    """Orders matching patterns: more literal characters first, then fewer `**`, fewer `*`/`?`."""

    literal_chars: int
    neg_double_stars: int
    neg_wildcards: int


def expand_braces(pattern: str) -> list[str]:
    """Expand the first `{a,b}` group recursively; unbalanced braces stay literal."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        char = pattern[end]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                break
    else:
        return [pattern]
    body = pattern[start + 1 : end]
    options: list[str] = []
    depth = 0
    current = ""
    for char in body:
        if char == "," and depth == 0:
            options.append(current)
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}"
        current += char
    options.append(current)
    head, tail = pattern[:start], pattern[end + 1 :]
    result: list[str] = []
    for option in options:
        result.extend(expand_braces(head + option + tail))
    return result


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            # "**/" also matches nothing, so "src/**/x" matches "src/x".
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            close = pattern.find("]", i + 1)
            if close < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : close].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = close + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _specificity(alternative: str) -> Specificity:
    double = alternative.count("**")
    single = alternative.count("*") - 2 * double + alternative.count("?")
    literal = len(re.sub(r"\*|\?|\[[^\]]*\]", "", alternative))
    return Specificity(literal, -double, -single)


def is_literal(pattern: str) -> bool:
    return not any(c in pattern for c in "*?[{")


@dataclass(frozen=True)
class Glob:
    pattern: str
    alternatives: tuple[tuple[str, re.Pattern[str]], ...]

    def matches(self, text: str) -> bool:
        return any(regex.fullmatch(text) for _, regex in self.alternatives)

    def specificity(self, text: str) -> Specificity | None:
        """How specific the best alternative matching `text` is; None when none matches."""
        scores = [_specificity(alt) for alt, regex in self.alternatives if regex.fullmatch(text)]
        return max(scores) if scores else None


@functools.lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> Glob:
    alternatives = tuple(
        (alt, re.compile(_translate(alt), re.DOTALL)) for alt in expand_braces(pattern)
    )
    return Glob(pattern, alternatives)


def matches(pattern: str, text: str) -> bool:
    return compile_glob(pattern).matches(text)


def best_match(name: str, patterns: list[str]) -> tuple[str | None, list[str]]:
    """Pick the pattern Bitbucket would use for `name`.

    An exact name beats every pattern; among patterns the most specific wins; a tie goes to the
    one written first. Returns the winner and every pattern that matched, in file order.
    """
    matched = [p for p in patterns if compile_glob(p).matches(name)]
    if not matched:
        return None, []
    if name in matched:
        return name, matched
    ranked = sorted(
        enumerate(matched),
        key=lambda pair: (compile_glob(pair[1]).specificity(name), -pair[0]),
        reverse=True,
    )
    return ranked[0][1], matched
