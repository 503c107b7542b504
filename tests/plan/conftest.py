"""Fixtures for the plan tests: pipeline files written as YAML text, parsed by shipline.config."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from shipline.config import PipelineFile, Severity, parse_text
from shipline.plan import Event, NoPipeline, Plan, compile_plan

ParseYaml = Callable[[str], PipelineFile]
PlanFor = Callable[..., Plan]
NothingFor = Callable[[str, Event], NoPipeline]

DEFAULT_EVENT = Event(branch="main")


def _parse(text: str) -> PipelineFile:
    result = parse_text(textwrap.dedent(text))
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    assert not errors, errors
    assert result.file is not None
    return result.file


@pytest.fixture
def parse_yaml() -> ParseYaml:
    """Parse a (dedented) bitbucket-pipelines.yml text; the test fails on any error."""
    return _parse


@pytest.fixture
def plan_for() -> PlanFor:
    """Compile a YAML text for an event (a push to 'main' unless given) into a Plan."""

    def build(text: str, event: Event = DEFAULT_EVENT) -> Plan:
        plan = compile_plan(_parse(text), event)
        assert isinstance(plan, Plan), plan
        return plan

    return build


@pytest.fixture
def nothing_for() -> NothingFor:
    """Compile a YAML text for an event that must select no pipeline."""

    def build(text: str, event: Event) -> NoPipeline:
        outcome = compile_plan(_parse(text), event)
        assert isinstance(outcome, NoPipeline), outcome
        return outcome

    return build
