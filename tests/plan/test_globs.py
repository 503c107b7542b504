"""Bitbucket glob patterns: matching, brace expansion and the specificity used for precedence."""

from __future__ import annotations

import warnings

import pytest

from shipline.plan.globs import (
    Specificity,
    best_match,
    compile_glob,
    expand_braces,
    is_literal,
    matches,
)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # literal names
        ("main", "main", True),
        ("main", "Main", False),
        ("main", "main2", False),
        ("main", "xmain", False),
        ("feature/x", "feature/x", True),
        ("v1.0", "v1x0", False),  # '.' is literal, not a regex wildcard
        ("a+b", "a+b", True),
        ("a+b", "aab", False),
        ("(x)", "(x)", True),
        ("a$", "a$", True),
        # '*' never crosses '/'
        ("*", "main", True),
        ("*", "", True),
        ("*", "feature/x", False),
        ("feature/*", "feature/x", True),
        ("feature/*", "feature/", True),
        ("feature/*", "feature/x/y", False),
        ("feature/*", "feature", False),
        ("feature/*", "features/x", False),
        ("*/feature", "x/feature", True),
        ("*/feature", "a/b/feature", False),
        ("*/feature", "feature", False),
        ("feature/bb-*", "feature/bb-123", True),
        ("feature/bb-*", "feature/bb", False),
        ("*-rc", "1.0-rc", True),
        ("*-rc", "1.0-rc1", False),
        ("a*b*c", "axxbyyc", True),
        ("a*b*c", "axx/byyc", False),
        # '**' crosses '/'
        ("**", "main", True),
        ("**", "feature/x", True),
        ("**", "a/b/c/d", True),
        ("feature/**", "feature/x", True),
        ("feature/**", "feature/x/y/z", True),
        ("feature/**", "feature", False),
        ("**/docs", "docs", True),
        ("**/docs", "a/docs", True),
        ("**/docs", "a/b/docs", True),
        ("**/docs", "a/b/docsx", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/pkg/sub/a.py", True),
        ("src/**/*.py", "lib/a.py", False),
        ("src/**", "src/a/b", True),
        # '?' is exactly one character, never '/'
        ("hotfix/?", "hotfix/1", True),
        ("hotfix/?", "hotfix/12", False),
        ("hotfix/?", "hotfix/", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("v?.?.?", "v1.2.3", True),
        ("v?.?.?", "v1.22.3", False),
        # brace alternatives
        ("release/{1.x,2.x}", "release/1.x", True),
        ("release/{1.x,2.x}", "release/2.x", True),
        ("release/{1.x,2.x}", "release/3.x", False),
        ("release/{1.x,2.x}", "release/{1.x,2.x}", False),
        ("{feature/*,fix/*}", "feature/a", True),
        ("{feature/*,fix/*}", "fix/b", True),
        ("{feature/*,fix/*}", "hotfix/b", False),
        ("{feature/*,fix/*}", "feature/a/b", False),
        ("{main,master}", "master", True),
        ("{main,master}", "develop", False),
        ("v{1,2}.{0,1}", "v2.1", True),
        ("v{1,2}.{0,1}", "v3.1", False),
        ("x{a,{b,c}}", "xc", True),
        ("x{a,}", "x", True),
        ("x{a", "x{a", True),  # an unbalanced brace stays literal
        ("x}a", "x}a", True),
        # character classes
        ("v[0-9]*", "v1.0", True),
        ("v[0-9]*", "vx", False),
        ("team-[ab]/*", "team-a/x", True),
        ("team-[ab]/*", "team-c/x", False),
        ("[!a]*", "b1", True),
        ("[!a]*", "a1", False),
        ("a[!x]b", "ayb", True),
        ("x[abc", "x[abc", True),  # an unclosed '[' is literal
    ],
)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected
    assert compile_glob(pattern).matches(text) is expected


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("a[!x]b", "a/b"),
        ("[!a]", "/"),
        ("a[/]b", "a/b"),
        ("a[.-0]b", "a/b"),  # a range that spans '/'
    ],
)
def test_character_classes_never_match_a_slash(pattern: str, text: str) -> None:
    assert not matches(pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("[]]", "]", True),  # ']' first in a class is a member, as in shell globs
        ("[]a]", "a", True),
        ("[!]]", "x", True),
        ("[!]]", "]", False),
        ("a[[]b", "a[b", True),
        ("[a-]", "-", True),
        ("[\\]", "\\", True),
        ("v[z-a]", "v[z-a]", True),  # an invalid range cannot match anything else
        ("a[&&]b", "a&b", True),
    ],
)
def test_unusual_character_classes_do_not_crash(pattern: str, text: str, expected: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert matches(pattern, text) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("main", ["main"]),
        ("{a,b}", ["a", "b"]),
        ("release/{1.x,2.x}", ["release/1.x", "release/2.x"]),
        ("{feature/*,fix/*}", ["feature/*", "fix/*"]),
        ("{a,b}-{c,d}", ["a-c", "a-d", "b-c", "b-d"]),
        ("x{a,{b,c}}y", ["xay", "xby", "xcy"]),
        ("x{,s}", ["x", "xs"]),
        ("{}", [""]),
        ("x{a", ["x{a"]),
        ("x}a", ["x}a"]),
    ],
)
def test_expand_braces(pattern: str, expected: list[str]) -> None:
    assert expand_braces(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("main", True),
        ("feature/bb-123-fix-links", True),
        ("v1.0.0", True),
        ("*", False),
        ("feature/*", False),
        ("hotfix/?", False),
        ("v[0-9]", False),
        ("{a,b}", False),
    ],
)
def test_is_literal(pattern: str, expected: bool) -> None:
    assert is_literal(pattern) is expected


def test_compile_glob_is_cached_and_keeps_the_pattern() -> None:
    glob = compile_glob("{feature/*,fix/*}")
    assert compile_glob("{feature/*,fix/*}") is glob
    assert glob.pattern == "{feature/*,fix/*}"
    assert [alternative for alternative, _ in glob.alternatives] == ["feature/*", "fix/*"]


def test_specificity_is_none_when_nothing_matches() -> None:
    assert compile_glob("feature/*").specificity("main") is None


def test_specificity_uses_the_best_matching_alternative() -> None:
    glob = compile_glob("{*,feature/bb-*}")
    assert glob.specificity("feature/bb-1") == compile_glob("feature/bb-*").specificity(
        "feature/bb-1"
    )
    assert glob.specificity("main") == compile_glob("*").specificity("main")


@pytest.mark.parametrize(
    ("text", "more_specific", "less_specific"),
    [
        ("feature/bb-123-fix", "feature/bb-123-*", "feature/bb-*"),
        ("feature/bb-1", "feature/bb-*", "feature/*"),
        ("feature/x", "feature/*", "feature/**"),
        ("feature/x", "feature/**", "**"),
        ("main", "*", "**"),
        ("main", "m*", "*"),
        ("docs", "**/docs", "*"),
        ("hotfix/1", "hotfix/?", "hotfix/*"),
        ("release/3", "release/[0-9]*", "release/*"),
        ("a", "?", "*"),
        ("v1.2.3", "v1.*", "v?.?.?"),  # fewer wildcards first, before single-character ones
        ("release/1.x", "release/{1.x,2.x}", "release/*"),
    ],
)
def test_specificity_orders_patterns(text: str, more_specific: str, less_specific: str) -> None:
    high = compile_glob(more_specific).specificity(text)
    low = compile_glob(less_specific).specificity(text)
    assert high is not None
    assert low is not None
    assert high > low
    assert isinstance(high, Specificity)


def test_best_match_with_nothing_matching() -> None:
    assert best_match("main", ["develop", "feature/*"]) == (None, [])
    assert best_match("main", []) == (None, [])


def test_best_match_returns_all_matches_in_file_order() -> None:
    patterns = ["**", "feature/*", "main", "feature/bb-*", "*"]
    assert best_match("feature/bb-1", patterns) == (
        "feature/bb-*",
        ["**", "feature/*", "feature/bb-*"],
    )


@pytest.mark.parametrize(
    "patterns",
    [
        ["main", "*", "**", "{main,master}", "ma?n", "m*"],
        ["**", "{main,master}", "*", "ma?n", "m*", "main"],
    ],
)
def test_best_match_exact_name_beats_every_pattern(patterns: list[str]) -> None:
    winner, matched = best_match("main", patterns)
    assert winner == "main"
    assert set(matched) == set(patterns)


def test_best_match_exact_name_beats_a_brace_list_that_includes_it() -> None:
    # Atlassian's community thread: 'dev/pagespeed' must beat '{feature/*,fix/*,dev/*}'.
    assert best_match("dev/pagespeed", ["{feature/*,fix/*,dev/*}", "dev/pagespeed"])[0] == (
        "dev/pagespeed"
    )


@pytest.mark.parametrize(
    ("patterns", "winner"),
    [
        (["feature/*", "*/feature"], "feature/*"),
        (["*/feature", "feature/*"], "*/feature"),
        (["{fix/*,bugfix/*}", "{feature/*,fix/*}"], "{fix/*,bugfix/*}"),
        (["{feature/*,fix/*}", "{fix/*,bugfix/*}"], "{feature/*,fix/*}"),
    ],
)
def test_best_match_tie_goes_to_the_pattern_written_first(patterns: list[str], winner: str) -> None:
    name = "feature/feature" if "feature/*" in patterns else "fix/x"
    assert best_match(name, patterns)[0] == winner


@pytest.mark.parametrize(
    "patterns",
    [
        ["feature/bb-*", "feature/bb-123-*"],
        ["feature/bb-123-*", "feature/bb-*"],
    ],
)
def test_best_match_more_specific_wins_whatever_the_order(patterns: list[str]) -> None:
    assert best_match("feature/bb-123-fix-links", patterns)[0] == "feature/bb-123-*"
