"""Shared helpers for the config tests, as fixtures (importlib mode: no cross-test imports)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from shipline.config import Diagnostic, ParseResult, PipelineFile, parse_text

Parse = Callable[[str], ParseResult]
ParseOk = Callable[[str], PipelineFile]
FindDiag = Callable[[ParseResult, str], Diagnostic]
StepDoc = Callable[[str], str]


@pytest.fixture
def parse() -> Parse:
    """Parse dedented YAML text, so tests can indent documents naturally."""

    def run(text: str) -> ParseResult:
        return parse_text(textwrap.dedent(text).lstrip("\n"))

    return run


@pytest.fixture
def parse_ok(parse: Parse) -> ParseOk:
    """Parse text that must be clean: no diagnostics of any severity."""

    def run(text: str) -> PipelineFile:
        result = parse(text)
        assert result.diagnostics == (), [d.format() for d in result.diagnostics]
        assert result.ok
        assert result.file is not None
        return result.file

    return run


@pytest.fixture
def find_diag() -> FindDiag:
    """The single diagnostic whose message contains `fragment`; fails on none or several."""

    def run(result: ParseResult, fragment: str) -> Diagnostic:
        found = [d for d in result.diagnostics if fragment in d.message]
        assert len(found) == 1, (fragment, [d.format() for d in result.diagnostics])
        return found[0]

    return run


@pytest.fixture
def step_doc() -> StepDoc:
    """Wrap step keys (written at column 1) as the only step of the default pipeline.

    The body's first line lands on file line 4, column 9; tests rely on that for positions.
    """

    def run(body: str) -> str:
        body = textwrap.dedent(body).strip("\n")
        indented = textwrap.indent(body, " " * 8)
        return f"pipelines:\n  default:\n    - step:\n{indented}\n"

    return run
