"""YAML → position-keeping tree: marks, aliases, merge keys, and the refusals."""

from __future__ import annotations

import textwrap
import time

import pytest

from shipline.config.diagnostics import DiagnosticSink, Mark, Severity
from shipline.config.yamltree import (
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    YMap,
    YNode,
    YScalar,
    YSeq,
    load_tree,
)


def load(text: str) -> tuple[YNode | None, DiagnosticSink]:
    sink = DiagnosticSink("t.yml")
    return load_tree(textwrap.dedent(text).lstrip("\n"), sink), sink


def load_map(text: str) -> YMap:
    root, sink = load(text)
    assert sink.items == [], [d.format() for d in sink.items]
    assert isinstance(root, YMap)
    return root


def scalar(node: YNode | None) -> object:
    assert isinstance(node, YScalar)
    return node.value


def child(node: YNode | None, key: str) -> YNode:
    assert isinstance(node, YMap)
    found = node.get(key)
    assert found is not None, key
    return found


def only_error(sink: DiagnosticSink) -> tuple[Mark, str, str]:
    assert len(sink.items) == 1, [d.format() for d in sink.items]
    diag = sink.items[0]
    assert diag.severity is Severity.ERROR
    return diag.mark, diag.message, diag.hint


# ---- structure and positions --------------------------------------------------------------


def test_marks_are_one_based_and_point_at_keys_and_values() -> None:
    root = load_map(
        """
        image: python:3.12
        pipelines:
          default:
            - step:
                script: [echo hi, "make test"]
        """
    )
    assert root.mark == Mark(1, 1)
    assert root.entries["image"].key_mark == Mark(1, 1)
    assert root.entries["image"].value.mark == Mark(1, 8)
    assert root.entries["pipelines"].key_mark == Mark(2, 1)
    default = child(child(root, "pipelines"), "default")
    assert isinstance(default, YSeq)
    assert default.mark == Mark(4, 5)
    script = child(child(default.items[0], "step"), "script")
    assert isinstance(script, YSeq)
    assert script.mark == Mark(5, 17)
    assert [(item.mark, scalar(item)) for item in script.items] == [
        (Mark(5, 18), "echo hi"),
        (Mark(5, 27), "make test"),
    ]


def test_scalars_keep_yaml_type_and_raw_text() -> None:
    root = load_map(
        """
        a: 010
        b: 'yes'
        c: yes
        d: ~
        e: 1.50
        """
    )
    values = {key: entry.value for key, entry in root.entries.items()}
    assert [(scalar(v), v.raw) for v in values.values() if isinstance(v, YScalar)] == [
        (8, "010"),  # YAML 1.1 octal: the raw text is what a command must see
        ("yes", "yes"),
        (True, "yes"),
        (None, "~"),
        (1.5, "1.50"),
    ]


def test_keys_are_text_as_written() -> None:
    root = load_map("1: a\ntrue: b\nnull: c\n'quoted': d\n")
    assert list(root.entries) == ["1", "true", "null", "quoted"]


def test_alias_reuses_content_and_keeps_the_anchor_position() -> None:
    root = load_map(
        """
        base: &img
          name: atlassian/default-image:4
        use: *img
        """
    )
    used = child(root, "use")
    assert isinstance(used, YMap)
    # A node's position is where its anchor was written.
    assert used.mark == Mark(1, 7)
    assert scalar(used.get("name")) == "atlassian/default-image:4"
    # Expanded copies are independent objects.
    assert used is not child(root, "base")


def test_merge_key_with_explicit_override() -> None:
    root = load_map(
        """
        base: &base
          name: from-base
          size: 2x
        step:
          <<: *base
          name: explicit
        """
    )
    step = child(root, "step")
    assert isinstance(step, YMap)
    assert scalar(step.get("name")) == "explicit"
    assert scalar(step.get("size")) == "2x"
    # The merged key keeps the line where it was written (inside the anchor).
    assert step.entries["size"].key_mark == Mark(3, 3)
    assert step.entries["name"].key_mark == Mark(6, 3)


def test_explicit_key_wins_even_when_written_before_the_merge() -> None:
    root = load_map(
        """
        a: &a {x: merged}
        m:
          x: explicit
          <<: *a
        """
    )
    assert scalar(child(child(root, "m"), "x")) == "explicit"


def test_merge_list_earlier_sources_win() -> None:
    root = load_map(
        """
        a: &a {x: from-a, only-a: 1}
        b: &b {x: from-b, only-b: 2}
        m:
          <<: [*a, *b]
          own: 3
        """
    )
    merged = child(root, "m")
    assert isinstance(merged, YMap)
    assert scalar(merged.get("x")) == "from-a"
    assert {k: scalar(e.value) for k, e in merged.entries.items()} == {
        "own": 3,
        "x": "from-a",
        "only-a": 1,
        "only-b": 2,
    }


def test_nested_merges_resolve_transitively() -> None:
    root = load_map(
        """
        a: &a {x: 1}
        b: &b {<<: *a, y: 2}
        c: {<<: *b, z: 3}
        """
    )
    c = child(root, "c")
    assert isinstance(c, YMap)
    assert {k: scalar(e.value) for k, e in c.entries.items()} == {"z": 3, "y": 2, "x": 1}


def test_merge_of_a_non_mapping_is_an_error_at_the_source() -> None:
    root, sink = load(
        """
        s: &s text
        m:
          <<: *s
          k: v
        """
    )
    assert isinstance(root, YMap)
    m = child(root, "m")
    assert isinstance(m, YMap)
    assert list(m.entries) == ["k"]
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 4)
    assert message == "a merge key '<<' needs a mapping or a list of mappings"
    assert "<<: *anchor" in hint
    assert sink.items[0].path == "m"


def test_merge_list_items_that_are_not_mappings_are_each_reported() -> None:
    root, sink = load("a: &a {x: 1}\nm: {<<: [*a, 3, [y]], k: v}\n")
    m = child(root, "m")
    assert isinstance(m, YMap)
    assert list(m.entries) == ["k", "x"]
    assert [(d.mark, d.severity) for d in sink.items] == [
        (Mark(2, 14), Severity.ERROR),
        (Mark(2, 17), Severity.ERROR),
    ]


def test_duplicate_key_warns_and_last_wins() -> None:
    root, sink = load(
        """
        a:
          k: first
          k: second
        """
    )
    assert scalar(child(child(root, "a"), "k")) == "second"
    [diag] = sink.items
    assert diag.severity is Severity.WARNING
    assert diag.mark == Mark(3, 3)
    assert diag.path == "a.k"
    assert diag.message == "duplicate key 'k' (first at line 2); the last one wins"


def test_non_scalar_key_is_an_error_and_skipped() -> None:
    root, sink = load(
        """
        a:
          ? [x, y]
          : value
          ok: 1
        """
    )
    a = child(root, "a")
    assert isinstance(a, YMap)
    assert list(a.entries) == ["ok"]
    mark, message, _ = only_error(sink)
    assert mark == Mark(2, 5)
    assert message == "mapping keys must be plain text, not a list or map"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2024-02-31", "timestamp"),  # impossible date
        ("!!bool maybe", "bool"),
        ("!!timestamp soon", "timestamp"),
        ("!!int ''", "int"),
        ("!!float ''", "float"),
    ],
)
def test_unconstructable_scalar_is_kept_as_text_with_a_warning(value: str, kind: str) -> None:
    root, sink = load(f"a: {value}\n")
    node = child(root, "a")
    assert isinstance(node, YScalar)
    assert isinstance(node.value, str)
    [diag] = sink.items
    assert diag.severity is Severity.WARNING
    assert diag.mark == Mark(1, 4)
    assert diag.path == "a"
    assert diag.message.startswith("value kept as text: ")
    assert f"not a valid {kind}" in diag.message
    assert "\n" not in diag.message


def test_constructor_error_message_is_one_line() -> None:
    _, sink = load("a: !!set x\n")
    [diag] = sink.items
    assert diag.message == "value kept as text: expected a mapping node, but found scalar"


def test_bad_scalar_through_an_alias_gives_the_same_warning_each_time() -> None:
    # A failed construction must not poison the next use of the same node.
    _, sink = load("a: &bad !!bool maybe\nb: *bad\n")
    assert [d.message for d in sink.items] == [
        "value kept as text: 'maybe' is not a valid bool"
    ] * 2


def test_seq_paths_in_nested_warnings() -> None:
    _, sink = load("list:\n  - ok\n  - {when: 2024-13-01}\n")
    [diag] = sink.items
    assert diag.path == "list[1].when"
    assert diag.mark == Mark(3, 12)


# ---- refusals ---------------------------------------------------------------------------


def test_empty_file() -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        root, sink = load(text)
        assert root is None
        mark, message, hint = only_error(sink)
        assert (mark, message) == (Mark(1, 1), "the file is empty")
        assert "pipelines:" in hint


def test_oversized_text_is_refused_before_parsing() -> None:
    text = "a: " + "x" * MAX_FILE_BYTES + "\n"
    started = time.perf_counter()
    root, sink = load(text)
    assert time.perf_counter() - started < 1
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 1)
    assert message == (
        f"file is {len(text):,} bytes; Shipline refuses pipeline files over {MAX_FILE_BYTES:,}"
    )
    assert hint


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    text = "# " + "é" * (MAX_FILE_BYTES // 2) + "\n"  # fewer characters than bytes
    assert len(text) < MAX_FILE_BYTES < len(text.encode())
    root, sink = load(text)
    assert root is None
    assert "refuses pipeline files over" in sink.items[0].message


def test_tabs_are_reported_with_position_and_hint() -> None:
    root, sink = load("pipelines:\n\tdefault: []\n")
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(2, 1)
    assert message.startswith("invalid YAML: ")
    assert "found character '\\t' that cannot start any token" in message
    assert hint == "YAML indentation must use spaces, not tabs"


@pytest.mark.parametrize(
    ("text", "mark", "fragment", "hint_fragment"),
    [
        ("a: b: c\n", Mark(1, 5), "mapping values are not allowed here", "quote values"),
        ("a: *nope\n", Mark(1, 4), "found undefined alias 'nope'", "define the anchor"),
        ("a: 'open\nb: c\n", Mark(3, 1), "found unexpected end of stream", ""),
        ("a: [1, 2\n", Mark(2, 1), "expected ',' or ']'", ""),
        (
            "a: 1\nb\nc: 2\n",
            Mark(3, 1),
            "while scanning a simple key, could not find expected ':'",
            "missing ':' on the line above",
        ),
        ('a: "x\n', Mark(2, 1), "while scanning a quoted scalar, found unexpected end", ""),
    ],
)
def test_invalid_yaml_positions(text: str, mark: Mark, fragment: str, hint_fragment: str) -> None:
    root, sink = load(text)
    assert root is None
    got_mark, message, hint = only_error(sink)
    assert got_mark == mark
    assert message.startswith("invalid YAML: ")
    assert fragment in message
    assert "\n" not in message
    assert hint_fragment in hint


def test_multiple_documents_are_refused_at_the_second() -> None:
    root, sink = load("pipelines: {}\n---\nother: 1\n")
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(2, 1)
    assert message == (
        "invalid YAML: expected a single document in the stream, but found another document"
    )
    assert "one YAML document" in hint


def test_control_character_reported_at_its_line_and_column() -> None:
    root, sink = load("a: 1\nb: x\x01y\n")
    assert root is None
    mark, message, _ = only_error(sink)
    assert mark == Mark(2, 5)
    assert message == (
        "invalid YAML: unacceptable character #x0001: special characters are not allowed"
    )


def billion_laughs(levels: int, width: int) -> str:
    lines = ["l0: &l0 lol"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\npipelines: {}\n"


def test_alias_bomb_is_refused_quickly() -> None:
    text = billion_laughs(levels=9, width=9)  # 9**9 ≈ 387 million nodes once expanded
    assert len(text) < 1000
    started = time.perf_counter()
    root, sink = load(text)
    assert time.perf_counter() - started < 1
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 1)
    assert message == (
        f"refusing this file: with aliases expanded it has more than {MAX_EXPANDED_NODES:,} nodes"
    )
    assert "alias bomb" in hint


def test_moderate_alias_reuse_is_accepted() -> None:
    root, sink = load(billion_laughs(levels=3, width=5))  # 125 leaves: harmless
    assert sink.items == []
    assert isinstance(root, YMap)


def test_recursive_alias_is_refused() -> None:
    root, sink = load("a: &a\n  - x\n  - *a\n")
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 1)
    assert message == "refusing this file: recursive alias at line 1"
    assert "alias" in hint
    assert "alias bomb" not in hint


def test_recursive_alias_through_a_merge_key_is_refused() -> None:
    root, sink = load("a: &a\n  k: v\n  <<: *a\n")
    assert root is None
    assert sink.items[0].message.startswith("refusing this file: recursive alias")


def test_nesting_just_under_the_limit_is_accepted() -> None:
    depth = MAX_DEPTH - 1
    root, sink = load("a: " + "[" * depth + "x" + "]" * depth + "\n")
    assert sink.items == []
    assert isinstance(root, YMap)


def test_deep_nesting_is_refused() -> None:
    depth = MAX_DEPTH + 50
    root, sink = load("a: " + "[" * depth + "x" + "]" * depth + "\n")
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 1)
    assert message == f"refusing this file: nesting deeper than {MAX_DEPTH} levels at line 1"
    assert "flatten" in hint


def test_extreme_nesting_that_overflows_the_yaml_library_is_refused() -> None:
    depth = 5000
    root, sink = load("a: " + "[" * depth + "]" * depth + "\n")
    assert root is None
    assert sink.items[0].severity is Severity.ERROR
    assert sink.items[0].message in (
        "invalid YAML: nesting is too deep",
        f"refusing this file: nesting deeper than {MAX_DEPTH} levels at line 1",
    )


def test_chained_aliases_cannot_nest_past_the_limit() -> None:
    # Each anchor is shallow and memoised, but the chain nests them 6 × 150 levels deep:
    # expanding that recursively used to overflow Python's stack.
    lines = []
    for i in range(6):
        inner = f"*a{i - 1}" if i else "x"
        lines.append(f"a{i}: &a{i} " + "[" * 150 + inner + "]" * 150)
    root, sink = load("\n".join(lines) + "\n")
    assert root is None
    mark, message, hint = only_error(sink)
    assert mark == Mark(1, 1)
    assert message == (
        f"refusing this file: aliases nest the document deeper than {MAX_DEPTH} levels "
        "(through the anchor at line 1)"
    )
    assert "flatten" in hint
