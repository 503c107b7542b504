"""What to do next in a pipeline, as a pure function of the plan and the steps' states.

Both drivers call it: the local engine (threads, `shipline run`) and the server's
orchestrator (database rows, workers on a queue). Given where every step stands, `advance`
says which steps to start, which to skip, which to stop (fail-fast), where to pause for a
person, and — once nothing is left to run — how the pipeline ended. It never changes
anything itself, so a server can call it again after a restart, a rerun or a manual trigger
and get the same answer from the same rows.

Steps the pipeline never reached are left PENDING; the driver gives them their final word
(not run, and why) when the pipeline is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipline.engine.changesets import condition_holds
from shipline.engine.results import PipelineStatus, StepStatus
from shipline.plan import ParallelGroup, Plan, PlanItem, StageSpec, StepSpec

ACTIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING})
DONE_OK = frozenset({StepStatus.PASSED, StepStatus.SKIPPED})
BROKEN = frozenset({StepStatus.FAILED, StepStatus.CANCELLED})
WAITING_FOR_A_PERSON = "waiting for a manual trigger"


@dataclass(frozen=True)
class StepState:
    status: StepStatus = StepStatus.PENDING
    approved: bool = False  # a person triggered this manual step
    stopping: bool = False  # a stop was already asked for (fail-fast); do not ask again


@dataclass(frozen=True)
class Decision:
    start: tuple[str, ...] = ()
    skip: Mapping[str, str] = field(default_factory=dict)  # step id → reason
    stop: Mapping[str, str] = field(default_factory=dict)  # step id → reason (fail-fast)
    pause: str | None = None  # the manual step the pipeline now waits at
    status: PipelineStatus | None = None  # how it ended; None while steps are still to run

    @property
    def changes_anything(self) -> bool:
        return bool(self.start or self.skip or self.stop or self.pause)


@dataclass(frozen=True)
class Situation:
    plan: Plan
    states: Mapping[str, StepState]
    changed_files: tuple[str, ...] | None = None  # None: unknown, conditions hold
    run_manual: bool = False  # every manual step counts as triggered (`shipline run --manual`)
    stopped: bool = False  # the pipeline was cancelled

    def status(self, step: StepSpec) -> StepStatus:
        return self.states[step.id].status


def gate_of(item: PlanItem) -> StepSpec | None:
    """The step a person must trigger before `item` runs, if any."""
    if isinstance(item, StepSpec):
        return item if item.manual else None
    if isinstance(item, StageSpec):
        return item.steps[0] if item.manual or item.steps[0].manual else None
    return next((s for s in item.steps if s.manual), None)


def item_steps(item: PlanItem) -> tuple[StepSpec, ...]:
    return (item,) if isinstance(item, StepSpec) else item.steps


def _item_condition_holds(item: PlanItem, changed: tuple[str, ...] | None) -> bool:
    """False when the item's changeset conditions rule it out entirely."""
    if isinstance(item, StepSpec | StageSpec):
        return condition_holds(item.changesets, changed)
    return any(condition_holds(s.changesets, changed) for s in item.steps)


class _Builder:
    def __init__(self) -> None:
        self.start: list[str] = []
        self.skip: dict[str, str] = {}
        self.stop: dict[str, str] = {}
        self.pause: str | None = None

    def decision(self, status: PipelineStatus | None) -> Decision:
        return Decision(tuple(self.start), self.skip, self.stop, self.pause, status)


def advance(situation: Situation) -> Decision:
    """The next moves of a pipeline; see the module docstring."""
    out = _Builder()
    plan, changed = situation.plan, situation.changed_files
    if situation.stopped:
        active = any(situation.status(s) in ACTIVE for s in plan.steps())
        return out.decision(None if active else PipelineStatus.CANCELLED)
    outcome = PipelineStatus.PASSED
    for item in plan.items:
        steps = item_steps(item)
        statuses = [situation.status(s) for s in steps]
        if any(s in ACTIVE for s in statuses):
            if isinstance(item, ParallelGroup):
                _fail_fast(situation, item, out)
            return out.decision(None)
        if any(s in BROKEN for s in statuses):
            if isinstance(item, ParallelGroup) and _finish_group(situation, item, out):
                return out.decision(None)
            outcome = PipelineStatus.FAILED
            break
        if all(s in DONE_OK for s in statuses):
            continue
        held = [s for s in steps if situation.status(s) is StepStatus.PAUSED]
        if any(not situation.states[s.id].approved for s in held) and not situation.run_manual:
            return out.decision(PipelineStatus.PAUSED)  # a paused step waits for a person
        gate = gate_of(item)
        if gate is not None and not _item_condition_holds(item, changed):
            gate = None  # nothing to wait for: the item is skipped when it "runs"
        if (
            gate is not None
            and situation.status(gate) in (StepStatus.PENDING, StepStatus.PAUSED)
            and not (situation.run_manual or situation.states[gate.id].approved)
        ):
            if situation.status(gate) is StepStatus.PENDING:
                out.pause = gate.id
            return out.decision(PipelineStatus.PAUSED)
        if _start_item(situation, item, out):
            return out.decision(None)
    return _finish(situation, outcome, out)


def _start_item(situation: Situation, item: PlanItem, out: _Builder) -> bool:
    """Start (or skip) what `item` runs next; True when something now runs."""
    changed = situation.changed_files
    pending = [s for s in item_steps(item) if situation.status(s) is not StepStatus.PASSED]
    pending = [s for s in pending if situation.status(s) is not StepStatus.SKIPPED]
    if isinstance(item, StageSpec):
        if not condition_holds(item.changesets, changed):
            for step in pending:
                out.skip[step.id] = f"stage '{item.name}': condition.changesets did not hold"
            return False
        for step in pending:  # one after another
            if condition_holds(step.changesets, changed):
                out.start.append(step.id)
                return True
            out.skip[step.id] = "condition.changesets: no matching file changed"
        return False
    for step in pending:  # a step, or every sibling of a parallel group at once
        if condition_holds(step.changesets, changed):
            out.start.append(step.id)
        else:
            out.skip[step.id] = "condition.changesets: no matching file changed"
    return bool(out.start)


def _finish_group(situation: Situation, group: ParallelGroup, out: _Builder) -> bool:
    """Siblings not yet started when one broke (a runner with fewer slots than the group):
    fail-fast stops them, otherwise they still run, as they would have side by side."""
    waiting = [s for s in group.steps if situation.status(s) is StepStatus.PENDING]
    if not waiting:
        return False
    _fail_fast(situation, group, out)
    if out.stop:
        return True
    for step in waiting:
        if condition_holds(step.changesets, situation.changed_files):
            out.start.append(step.id)
        else:
            out.skip[step.id] = "condition.changesets: no matching file changed"
    return True


def _fail_fast(situation: Situation, group: ParallelGroup, out: _Builder) -> None:
    """A failed sibling that is fail-fast (its own setting, else its group's) stops the rest."""
    failed = [s for s in group.steps if situation.status(s) is StepStatus.FAILED and s.fail_fast]
    if not failed:
        return
    for sibling in group.steps:
        state = situation.states[sibling.id]
        if state.stopping or state.status not in (ACTIVE | {StepStatus.PENDING}):
            continue
        out.stop[sibling.id] = f"fail-fast: '{failed[0].name}' failed"


def _finish(situation: Situation, outcome: PipelineStatus, out: _Builder) -> Decision:
    final = situation.plan.final
    if final is None:
        return out.decision(outcome)
    status = situation.status(final)
    if status in ACTIVE:
        return out.decision(None)
    if status is StepStatus.PENDING:
        if condition_holds(final.changesets, situation.changed_files):
            out.start.append(final.id)
            return out.decision(None)
        out.skip[final.id] = "condition.changesets: no matching file changed"
        return out.decision(outcome)
    if status in BROKEN and outcome is PipelineStatus.PASSED:
        return out.decision(PipelineStatus.FAILED)
    return out.decision(outcome)


def not_run_reason(status: PipelineStatus) -> str:
    """Why a step the pipeline never reached did not run."""
    return {
        PipelineStatus.FAILED: "an earlier step failed",
        PipelineStatus.PAUSED: "the pipeline is paused at a manual step",
        PipelineStatus.CANCELLED: "the pipeline was stopped",
    }.get(status, "")


def artifact_sources(plan: Plan, step_id: str) -> list[str]:
    """Steps whose artifacts `step_id` receives, in the order they are restored.

    Every step written before it, in YAML order (the one written last wins a clash), except
    its siblings in a parallel group: they run at the same time.
    """
    sources: list[str] = []
    for item in plan.items:
        steps = item_steps(item)
        if any(s.id == step_id for s in steps):
            if isinstance(item, StageSpec):
                for step in steps:
                    if step.id == step_id:
                        break
                    sources.append(step.id)
            return sources
        sources.extend(s.id for s in steps)
    return sources  # the final step: every other step


def reopened(plan: Plan, states: Mapping[str, StepState]) -> dict[str, StepState]:
    """States for "rerun failed steps": what failed, was stopped or never ran runs again.

    Passed and skipped steps keep their results (and artifacts); the final step runs again
    because it runs after whatever else ran. A manual step that runs again waits for a
    person again: a rerun is not a second approval.
    """
    again = {StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.NOT_RUN, StepStatus.PAUSED}
    result = dict(states)
    for step in plan.steps():
        state = states[step.id]
        if state.status in again or (step.final and state.status in DONE_OK):
            result[step.id] = StepState(StepStatus.PENDING)
    return result
