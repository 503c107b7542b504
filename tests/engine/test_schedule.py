"""The pure schedule: the same decisions from the same states, whoever drives it."""

from __future__ import annotations

import textwrap

from shipline.config import parse_text
from shipline.engine.results import PipelineStatus, StepStatus
from shipline.engine.schedule import (
    Situation,
    StepState,
    advance,
    artifact_sources,
    reopened,
)
from shipline.plan import Event, Plan, compile_plan

S = StepStatus

FILE = """\
pipelines:
  default:
    - step:
        name: Build
        script: [echo build]
    - parallel:
        fail-fast: true
        steps:
          - step:
              name: Unit
              script: [echo unit]
          - step:
              name: Lint
              script: [echo lint]
    - stage:
        name: Staging
        steps:
          - step:
              name: Migrate
              script: [echo migrate]
          - step:
              name: Smoke
              script: [echo smoke]
    - step:
        name: Production
        trigger: manual
        script: [echo prod]
    - final:
        name: Cleanup
        script: [echo bye]
"""


def _plan(text: str = FILE) -> Plan:
    parsed = parse_text(textwrap.dedent(text))
    assert parsed.file is not None, parsed.diagnostics
    plan = compile_plan(parsed.file, Event(branch="main"))
    assert isinstance(plan, Plan)
    return plan


def _ids(plan: Plan) -> dict[str, str]:
    return {s.name: s.id for s in plan.steps()}


def _situation(plan: Plan, **statuses: StepStatus) -> Situation:
    names = _ids(plan)
    states = {s.id: StepState() for s in plan.steps()}
    for name, status in statuses.items():
        states[names[name]] = StepState(status)
    return Situation(plan, states)


def _names(plan: Plan, ids: object) -> list[str]:
    by_id = {s.id: s.name for s in plan.steps()}
    return [by_id[i] for i in ids]  # type: ignore[attr-defined]


def test_a_fresh_pipeline_starts_its_first_step_only() -> None:
    plan = _plan()
    decision = advance(_situation(plan))
    assert _names(plan, decision.start) == ["Build"]
    assert decision.status is None


def test_nothing_new_while_a_step_is_queued_or_running() -> None:
    plan = _plan()
    for status in (S.QUEUED, S.RUNNING):
        decision = advance(_situation(plan, Build=status))
        assert not decision.changes_anything
        assert decision.status is None


def test_a_parallel_group_starts_all_siblings_at_once() -> None:
    plan = _plan()
    decision = advance(_situation(plan, Build=S.PASSED))
    assert _names(plan, decision.start) == ["Unit", "Lint"]


def test_fail_fast_stops_the_running_sibling_once() -> None:
    plan = _plan()
    situation = _situation(plan, Build=S.PASSED, Unit=S.FAILED, Lint=S.RUNNING)
    decision = advance(situation)
    assert {_ids(plan)["Lint"]: "fail-fast: 'Unit' failed"} == dict(decision.stop)
    lint = _ids(plan)["Lint"]
    asked = dict(situation.states) | {lint: StepState(S.RUNNING, stopping=True)}
    assert not advance(Situation(plan, asked)).stop


def test_a_stage_runs_its_steps_one_after_another() -> None:
    plan = _plan()
    done = {"Build": S.PASSED, "Unit": S.PASSED, "Lint": S.PASSED}
    assert _names(plan, advance(_situation(plan, **done)).start) == ["Migrate"]
    later = advance(_situation(plan, **done, Migrate=S.PASSED))
    assert _names(plan, later.start) == ["Smoke"]


def test_a_manual_step_pauses_and_an_approval_starts_it() -> None:
    plan = _plan()
    done = dict.fromkeys(["Build", "Unit", "Lint", "Migrate", "Smoke"], S.PASSED)
    paused = advance(_situation(plan, **done))
    assert paused.pause == _ids(plan)["Production"]
    assert paused.status is PipelineStatus.PAUSED
    assert not paused.start  # the final step waits too
    # Once paused, asking again changes nothing.
    again = advance(_situation(plan, **done, Production=S.PAUSED))
    assert again.pause is None
    assert again.status is PipelineStatus.PAUSED
    situation = _situation(plan, **done, Production=S.PAUSED)
    prod = _ids(plan)["Production"]
    approved = dict(situation.states) | {prod: StepState(S.PAUSED, approved=True)}
    assert _names(plan, advance(Situation(plan, approved)).start) == ["Production"]


def test_the_final_step_runs_after_a_failure_and_the_pipeline_fails() -> None:
    plan = _plan()
    decision = advance(_situation(plan, Build=S.FAILED))
    assert _names(plan, decision.start) == ["Cleanup"]
    ended = advance(_situation(plan, Build=S.FAILED, Cleanup=S.PASSED))
    assert ended.status is PipelineStatus.FAILED


def test_a_failed_final_step_fails_a_green_pipeline() -> None:
    plan = _plan("pipelines:\n  default:\n    - step:\n        script: [a]\n"
                 "    - final:\n        name: Cleanup\n        script: [b]\n")  # fmt: skip
    first = plan.items[0]
    assert plan.final is not None
    states = {first.id: StepState(S.PASSED), plan.final.id: StepState(S.FAILED)}  # type: ignore[union-attr]
    assert advance(Situation(plan, states)).status is PipelineStatus.FAILED


def test_a_stopped_pipeline_waits_for_its_running_steps_then_is_cancelled() -> None:
    plan = _plan()
    running = _situation(plan, Build=S.RUNNING)
    stopped = Situation(plan, running.states, stopped=True)
    assert advance(stopped).status is None
    done = Situation(plan, _situation(plan, Build=S.CANCELLED).states, stopped=True)
    assert advance(done).status is PipelineStatus.CANCELLED
    assert not advance(done).start


def test_changesets_skip_instead_of_start() -> None:
    text = """\
    pipelines:
      default:
        - step:
            name: Docs
            condition: {changesets: {includePaths: ["docs/**"]}}
            script: [echo docs]
        - step:
            name: Always
            script: [echo always]
    """
    plan = _plan(text)
    situation = Situation(plan, {s.id: StepState() for s in plan.steps()}, ("src/a.py",))
    decision = advance(situation)
    assert dict(decision.skip) == {
        _ids(plan)["Docs"]: "condition.changesets: no matching file changed"
    }
    assert _names(plan, decision.start) == ["Always"]  # a skip needs no second look


def test_rerun_reopens_what_failed_or_never_ran_and_keeps_what_passed() -> None:
    plan = _plan()
    ids = _ids(plan)
    states = _situation(
        plan, Build=S.PASSED, Unit=S.FAILED, Lint=S.CANCELLED, Migrate=S.NOT_RUN, Cleanup=S.PASSED
    ).states
    again = reopened(plan, states)
    assert again[ids["Build"]].status is S.PASSED
    assert {n for n, i in ids.items() if again[i].status is S.PENDING} == {
        "Unit", "Lint", "Migrate", "Smoke", "Production", "Cleanup",
    }  # fmt: skip
    assert _names(plan, advance(Situation(plan, again)).start) == ["Unit", "Lint"]


def test_artifacts_come_from_earlier_steps_but_not_parallel_siblings() -> None:
    plan = _plan()
    ids = _ids(plan)
    assert artifact_sources(plan, ids["Build"]) == []
    assert _names(plan, artifact_sources(plan, ids["Lint"])) == ["Build"]
    assert _names(plan, artifact_sources(plan, ids["Smoke"])) == [
        "Build",
        "Unit",
        "Lint",
        "Migrate",
    ]
    assert _names(plan, artifact_sources(plan, ids["Cleanup"])) == [
        "Build", "Unit", "Lint", "Migrate", "Smoke", "Production",
    ]  # fmt: skip
