"""Bitbucket glob patterns, used for branch/tag selection and for file paths.

`*`, `?` and `[...]` (a character class) never cross '/', `**` does, `{a,b}` lists alternatives.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Specificity:
    """Orders matching patterns: more literal characters first, then fewer `**`, fewer `*`/`?`,
    then more single-character ones (`?`, `[...]`): `hotfix/?` beats `hotfix/*`."""

    literal_chars: int
    neg_double_stars: int
    neg_wildcards: int
    single_chars: int


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


# A token of a brace-free pattern: its kind and its regex. Kinds: "literal", "?", "class", "*",
# "**" and "**/" (whose '/' counts as a literal).
_Token = tuple[str, str]


def _char_class(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate the `[...]` opening at `start`; None when it never closes.

    `!` (or `^`) first negates; a `]` right after the opening (or the `!`) is a member. Like `?`,
    a class never matches '/'.
    """
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    first = i
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    close = pattern.find("]", i)
    if close < 0:
        return None
    members = "".join(c if c == "-" else re.escape(c) for c in pattern[first:close])
    return f"(?!/)[{'^' if negate else ''}{members}]", close + 1


def _tokens(pattern: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            # "**/" also matches nothing, so "src/**/x" matches "src/x".
            if pattern.startswith("**/", i):
                out.append(("**/", "(?:.*/)?"))
                i += 3
            else:
                out.append(("**", ".*"))
                i += 2
            continue
        if char == "*":
            out.append(("*", "[^/]*"))
        elif char == "?":
            out.append(("?", "[^/]"))
        elif char == "[" and (parsed := _char_class(pattern, i)) is not None:
            out.append(("class", parsed[0]))
            i = parsed[1]
            continue
        else:
            out.append(("literal", re.escape(char)))
        i += 1
    return out


def _translate(pattern: str) -> str:
    return "".join(regex for _, regex in _tokens(pattern))


def _specificity(alternative: str) -> Specificity:
    kinds = [kind for kind, _ in _tokens(alternative)]
    double = kinds.count("**") + kinds.count("**/")
    return Specificity(
        kinds.count("literal") + kinds.count("**/"),
        -double,
        -kinds.count("*") - kinds.count("?"),
        kinds.count("?") + kinds.count("class"),
    )


def _compile(alternative: str) -> re.Pattern[str]:
    try:
        return re.compile(_translate(alternative), re.DOTALL)
    except re.error:  # e.g. an invalid range such as [z-a]: the pattern only matches itself
        return re.compile(re.escape(alternative), re.DOTALL)


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
    alternatives = tuple((alt, _compile(alt)) for alt in expand_braces(pattern))
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
