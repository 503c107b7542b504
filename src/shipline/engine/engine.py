"""Walk a plan: sequence, parallel groups, stages, manual gates, fail-fast, final step."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shipline.engine.changesets import condition_holds
from shipline.engine.context import RunContext
from shipline.engine.listener import RunListener
from shipline.engine.results import PipelineResult, PipelineStatus, StepResult, StepStatus
from shipline.engine.step_runner import StepRunner
from shipline.plan import ParallelGroup, Plan, StageSpec, StepSpec
from shipline.run.executor import Executor
from shipline.run.workspace import WorkspaceFactory


class PipelineEngine:
    """Runs one plan to completion (or to a manual gate) with one executor."""

    def __init__(
        self,
        plan: Plan,
        context: RunContext,
        executor: Executor,
        listener: RunListener | None = None,
    ) -> None:
        self.plan = plan
        self.context = context
        self.listener = listener or RunListener()
        self.workspaces = WorkspaceFactory(context.source, context.run_dir)
        self.runner = StepRunner(plan, context, executor, self.listener, self.workspaces)
        self.results: dict[str, StepResult] = {
            step.id: StepResult(StepStatus.PENDING) for step in plan.steps()
        }
        self._artifact_stores: list[Path] = []
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._fail_fast_cause: dict[str, str] = {}

    def cancel(self) -> None:
        """Stop the run: running steps are killed, the rest do not start."""
        self._cancel.set()
        with self._lock:
            running = [sid for sid, r in self.results.items() if r.status is StepStatus.RUNNING]
        for step_id in running:
            self.runner.cancel(step_id)

    def run(self) -> PipelineResult:
        started = time.monotonic()
        self.listener.pipeline_started(self.plan)
        status = PipelineStatus.PASSED
        paused_before: str | None = None
        try:
            for item in self.plan.items:
                if self._cancel.is_set():
                    status = PipelineStatus.CANCELLED
                    break
                gate = self._gate(item)
                if gate is not None and not self._condition_holds(item):
                    gate = None  # nothing to wait for: the item is skipped when it "runs"
                if gate is not None and not self.context.run_manual:
                    self._set(gate, StepResult(StepStatus.PAUSED, "waiting for a manual trigger"))
                    paused_before = gate.id
                    status = PipelineStatus.PAUSED
                    break
                outcome = self._run_item(item)
                if outcome is not PipelineStatus.PASSED:
                    status = outcome
                    break
            stopped = self._cancel.is_set() or status is PipelineStatus.PAUSED
            if not stopped and self.plan.final is not None:
                final = self._run_step(self.plan.final)
                if final.status is not StepStatus.PASSED and status is PipelineStatus.PASSED:
                    status = PipelineStatus.FAILED
        finally:
            if not self.context.keep_workspaces:
                self.workspaces.cleanup()
        for step_result in self.results.values():
            if step_result.status is StepStatus.PENDING:
                step_result.status = StepStatus.NOT_RUN
                step_result.reason = self._not_run_reason(status)
        finished = PipelineResult(status, self.results, paused_before, time.monotonic() - started)
        self.listener.pipeline_finished(finished)
        return finished

    @staticmethod
    def _not_run_reason(status: PipelineStatus) -> str:
        return {
            PipelineStatus.FAILED: "an earlier step failed",
            PipelineStatus.PAUSED: "the pipeline is paused at a manual step",
            PipelineStatus.CANCELLED: "the pipeline was stopped",
        }.get(status, "")

    def _condition_holds(self, item: StepSpec | ParallelGroup | StageSpec) -> bool:
        """False when a step's or stage's changeset condition rules it out entirely."""
        if isinstance(item, StepSpec):
            return condition_holds(item.changesets, self.context.changed_files)
        if isinstance(item, StageSpec):
            return condition_holds(item.changesets, self.context.changed_files)
        return any(condition_holds(s.changesets, self.context.changed_files) for s in item.steps)

    def _gate(self, item: StepSpec | ParallelGroup | StageSpec) -> StepSpec | None:
        """The step a person must trigger before `item` runs, if any."""
        if isinstance(item, StepSpec):
            return item if item.manual else None
        if isinstance(item, StageSpec):
            return item.steps[0] if item.manual or item.steps[0].manual else None
        manual = [s for s in item.steps if s.manual]
        return manual[0] if manual else None

    def _set(self, step: StepSpec, result: StepResult) -> None:
        with self._lock:
            self.results[step.id] = result

    def _skip(self, step: StepSpec, reason: str) -> None:
        self._set(step, StepResult(StepStatus.SKIPPED, reason))
        self.listener.step_finished(step, self.results[step.id])

    def _keep_artifacts(self, step: StepSpec, result: StepResult) -> None:
        """Later steps see this step's artifacts (after those of earlier steps)."""
        if step.artifacts.paths and result.artifacts:
            with self._lock:
                self._artifact_stores.append(self.context.artifact_dir / step.id)

    def _run_step(self, step: StepSpec, stores: list[Path] | None = None) -> StepResult:
        """Run one step; `stores` is given for parallel siblings, whose artifacts the group
        keeps once all have finished."""
        if not condition_holds(step.changesets, self.context.changed_files):
            self._skip(step, "condition.changesets: no matching file changed")
            return self.results[step.id]
        self._set(step, StepResult(StepStatus.RUNNING, started_at=time.time()))
        if self._cancel.is_set():  # cancel() may have missed this step: it was not running yet
            self.runner.cancel(step.id)
        result = self.runner.run(step, list(self._artifact_stores if stores is None else stores))
        self._set(step, result)
        if stores is None:
            self._keep_artifacts(step, result)
        return result

    def _run_item(self, item: StepSpec | ParallelGroup | StageSpec) -> PipelineStatus:
        if isinstance(item, StepSpec):
            return self._status_of([self._run_step(item)])
        if isinstance(item, StageSpec):
            return self._run_stage(item)
        return self._run_parallel(item)

    def _status_of(self, results: list[StepResult]) -> PipelineStatus:
        if any(r.status is StepStatus.CANCELLED for r in results) and self._cancel.is_set():
            return PipelineStatus.CANCELLED
        if any(r.status in (StepStatus.FAILED, StepStatus.CANCELLED) for r in results):
            return PipelineStatus.FAILED
        return PipelineStatus.PASSED

    def _run_stage(self, stage: StageSpec) -> PipelineStatus:
        if not condition_holds(stage.changesets, self.context.changed_files):
            for step in stage.steps:
                self._skip(step, f"stage '{stage.name}': condition.changesets did not hold")
            return PipelineStatus.PASSED
        for step in stage.steps:
            if self._cancel.is_set():
                return PipelineStatus.CANCELLED
            status = self._status_of([self._run_step(step)])
            if status is not PipelineStatus.PASSED:
                return status
        return PipelineStatus.PASSED

    def _run_parallel(self, group: ParallelGroup) -> PipelineStatus:
        # Siblings see only artifacts from steps that finished before the group started.
        stores = list(self._artifact_stores)
        workers = max(1, min(len(group.steps), self.context.max_parallel))

        def run_sibling(step: StepSpec) -> StepResult:
            if self._cancel.is_set():
                return self.results[step.id]
            result = self._run_step(step, stores)
            # step.fail_fast already holds the group's setting unless the step overrides it.
            if result.status is StepStatus.FAILED and step.fail_fast:
                for sibling in group.steps:
                    if sibling.id != step.id:
                        self._stop_sibling(sibling, step)
            return result

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
            results = list(pool.map(run_sibling, group.steps))
        # In YAML order, whatever order they finished in: where siblings wrote the same file,
        # the one written last in the file wins, as on Bitbucket.
        for step, result in zip(group.steps, results, strict=True):
            self._keep_artifacts(step, result)
        for step, result in zip(group.steps, results, strict=True):
            if result.status is StepStatus.CANCELLED and step.id in self._fail_fast_cause:
                result.reason = f"fail-fast: '{self._fail_fast_cause[step.id]}' failed"
        return self._status_of(results)

    def _stop_sibling(self, sibling: StepSpec, failed: StepSpec) -> None:
        # Recorded even before the sibling starts, so it is cancelled the moment it would.
        self.runner.cancel(sibling.id)
        self._fail_fast_cause[sibling.id] = failed.name
