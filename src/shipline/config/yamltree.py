"""Load YAML into a small tree that keeps every node's source position.

PyYAML composes a node graph (aliases share nodes); we expand it ourselves so that merge keys
keep their positions and alias bombs, recursive aliases and oversized files become
diagnostics instead of memory exhaustion or crashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.reader import ReaderError

from shipline.config.diagnostics import DiagnosticSink, Mark

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED_NODES = 250_000
MAX_DEPTH = 200

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(eq=False)
class YNode:
    mark: Mark


@dataclass(eq=False)
class YScalar(YNode):
    """A scalar: `value` is the YAML-typed value, `raw` the text exactly as written."""

    value: object
    raw: str


@dataclass(eq=False)
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)


@dataclass(eq=False)
class YEntry:
    key_mark: Mark
    value: YNode


@dataclass(eq=False)
class YMap(YNode):
    entries: dict[str, YEntry] = field(default_factory=dict)

    def get(self, key: str) -> YNode | None:
        entry = self.entries.get(key)
        return entry.value if entry else None


class _TooLarge(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def load_tree(text: str, sink: DiagnosticSink) -> YNode | None:
    """Parse `text`; return the root node, or None after recording why it cannot be used."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_FILE_BYTES:
        sink.error(
            Mark(1, 1),
            "",
            f"file is {size:,} bytes; Shipline refuses pipeline files over {MAX_FILE_BYTES:,}",
            "split shared definitions out or remove generated content",
        )
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        problem = exc.problem or str(exc)
        sink.error(where, "", f"invalid YAML: {_describe(exc)}", _yaml_hint(problem))
        return None
    except ReaderError as exc:
        # Its str() is multi-line and gives only a character offset: report line:column.
        sink.error(
            _offset_mark(text, int(exc.position)),
            "",
            f"invalid YAML: unacceptable character #x{int(exc.character):04x}: {exc.reason}",
            "remove control characters from the file",
        )
        return None
    except yaml.YAMLError as exc:
        sink.error(Mark(1, 1), "", f"invalid YAML: {exc}")
        return None
    except RecursionError:
        sink.error(Mark(1, 1), "", "invalid YAML: nesting is too deep")
        return None
    if root is None:
        sink.error(Mark(1, 1), "", "the file is empty", "add a top-level 'pipelines:' section")
        return None
    try:
        total, _ = _expanded_size(root, {}, set(), 0)
    except _TooLarge as exc:
        sink.error(Mark(1, 1), "", f"refusing this file: {exc}", exc.hint)
        return None
    if total > MAX_EXPANDED_NODES:
        sink.error(
            Mark(1, 1),
            "",
            # Counting stops at the limit, so `total` is a lower bound, not the real size.
            "refusing this file: with aliases expanded it has more than "
            f"{MAX_EXPANDED_NODES:,} nodes",
            "YAML aliases that expand exponentially (an 'alias bomb') are not allowed",
        )
        return None
    return _Converter(sink).convert(root, "")


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """One line in PyYAML's own order (context, then problem), without its source snippets."""
    parts = [part for part in (exc.context, exc.problem) if part]
    return ", ".join(parts) if parts else str(exc)


def _offset_mark(text: str, offset: int) -> Mark:
    line_start = text.rfind("\n", 0, offset) + 1
    return Mark(text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _yaml_hint(problem: str) -> str:
    if "found character '\\t'" in problem or "tab" in problem:
        return "YAML indentation must use spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote values that contain ': ' or check the indentation of this line"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before using the alias (*name)"
    if "could not find expected ':'" in problem:
        return "check for an unclosed quote or a missing ':' on the line above"
    if "found another document" in problem:
        return "a pipeline file holds one YAML document; remove the extra '---' section"
    return ""


def _expanded_size(
    node: yaml.Node, memo: dict[int, tuple[int, int]], active: set[int], depth: int
) -> tuple[int, int]:
    """Return (nodes, levels below) that `node` expands to; raise _TooLarge on cycles or depth.

    The height is memoised with the size: an alias reached at depth d nests its whole expansion
    d levels deep, so chained aliases cannot sneak past MAX_DEPTH through the memo.
    """
    key = id(node)
    if key in active:
        raise _TooLarge(
            f"recursive alias at line {_mark(node).line}",
            "an anchor cannot contain an alias to itself",
        )
    if key in memo:
        size, height = memo[key]
    else:
        if depth > MAX_DEPTH:
            raise _TooLarge(
                f"nesting deeper than {MAX_DEPTH} levels at line {_mark(node).line}",
                "flatten the structure; pipeline files never need this much nesting",
            )
        active.add(key)
        size, height = 1, 0
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        for child in children:
            child_size, child_height = _expanded_size(child, memo, active, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_EXPANDED_NODES:
                break
        active.discard(key)
        memo[key] = (size, height)
    if depth + height > MAX_DEPTH:
        raise _TooLarge(
            f"aliases nest the document deeper than {MAX_DEPTH} levels "
            f"(through the anchor at line {_mark(node).line})",
            "flatten the structure; pipeline files never need this much nesting",
        )
    return size, height


class _Converter:
    def __init__(self, sink: DiagnosticSink) -> None:
        self.sink = sink
        self.constructor = SafeConstructor()

    def convert(self, node: yaml.Node, path: str) -> YNode:
        if isinstance(node, yaml.ScalarNode):
            return YScalar(_mark(node), self._scalar(node, path), str(node.value))
        if isinstance(node, yaml.SequenceNode):
            return YSeq(
                _mark(node),
                [self.convert(child, f"{path}[{i}]") for i, child in enumerate(node.value)],
            )
        assert isinstance(node, yaml.MappingNode)
        return self._mapping(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: str) -> object:
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as exc:
            # e.g. 2024-02-31 or `!!bool maybe`: PyYAML's constructors fail with many exception
            # types (KeyError, IndexError, AttributeError...), so keep the text and say why.
            tag = str(node.tag).rsplit(":", 1)[-1]
            reason = (
                _describe(exc)
                if isinstance(exc, ConstructorError)
                else f"'{node.value}' is not a valid {tag}"
            )
            self.sink.warning(_mark(node), path, f"value kept as text: {reason}")
            # A failed construction leaves the node marked as in progress; start afresh.
            self.constructor = SafeConstructor()
            return str(node.value)

    def _mapping(self, node: yaml.MappingNode, path: str) -> YMap:
        result = YMap(_mark(node))
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.sink.error(
                    _mark(key_node), path, "mapping keys must be plain text, not a list or map"
                )
                continue
            key = str(key_node.value)
            child_path = f"{path}.{key}" if path else key
            if key in result.entries:
                first = result.entries[key].key_mark
                self.sink.warning(
                    _mark(key_node),
                    child_path,
                    f"duplicate key '{key}' (first at line {first.line}); the last one wins",
                    "remove one of the two entries",
                )
            result.entries[key] = YEntry(_mark(key_node), self.convert(value_node, child_path))
        # Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merged:
            for key, entry in source.entries.items():
                result.entries.setdefault(key, entry)
        return result

    def _merge_sources(self, value: yaml.Node, path: str) -> list[YMap]:
        candidates = value.value if isinstance(value, yaml.SequenceNode) else [value]
        sources: list[YMap] = []
        for candidate in candidates:
            converted = self.convert(candidate, path)
            if isinstance(converted, YMap):
                sources.append(converted)
            else:
                self.sink.error(
                    converted.mark,
                    path,
                    "a merge key '<<' needs a mapping or a list of mappings",
                    "use '<<: *anchor' where the anchor names a mapping",
                )
        return sources
