"""The local driver of the schedule: runs a plan's steps on threads of this process.

`schedule.advance` decides (order, parallel groups, stages, gates, fail-fast, final); this
module only carries the decisions out with a `StepRunner` and waits for steps to finish.
The server drives the same schedule from database rows instead (server.orchestrator).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from shipline.engine.context import RunContext
from shipline.engine.listener import RunListener
from shipline.engine.results import PipelineResult, PipelineStatus, StepResult, StepStatus
from shipline.engine.schedule import (
    ACTIVE,
    WAITING_FOR_A_PERSON,
    Situation,
    StepState,
    advance,
    artifact_sources,
    not_run_reason,
)
from shipline.engine.step_runner import StepRunner
from shipline.plan import Plan, StepSpec
from shipline.run.executor import Executor
from shipline.run.workspace import WorkspaceFactory

_WAKE = ""  # queued by cancel(): look at the situation again


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
        self._states = {step.id: StepState() for step in plan.steps()}
        self._stop_reasons: dict[str, str] = {}  # fail-fast stops, by step id
        self._finished: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop the run: running steps are killed, the rest do not start."""
        self._cancel.set()
        with self._lock:
            active = [sid for sid, s in self._states.items() if s.status is StepStatus.RUNNING]
        for step_id in active:
            self.runner.cancel(step_id)
        self._finished.put(_WAKE)

    def run(self) -> PipelineResult:
        started = time.monotonic()
        self.listener.pipeline_started(self.plan)
        workers = max(1, self.context.max_parallel)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
                status, paused_before = self._drive(pool, workers)
        finally:
            if not self.context.keep_workspaces:
                self.workspaces.cleanup()
        for step_result in self.results.values():
            if step_result.status is StepStatus.PENDING:
                step_result.status = StepStatus.NOT_RUN
                step_result.reason = not_run_reason(status)
        finished = PipelineResult(status, self.results, paused_before, time.monotonic() - started)
        self.listener.pipeline_finished(finished)
        return finished

    def _drive(self, pool: ThreadPoolExecutor, workers: int) -> tuple[PipelineStatus, str | None]:
        paused_before: str | None = None
        while True:
            with self._lock:
                situation = Situation(
                    self.plan,
                    dict(self._states),
                    self.context.changed_files,
                    run_manual=self.context.run_manual,
                    stopped=self._cancel.is_set(),
                )
            decision = advance(situation)
            for step_id, reason in decision.skip.items():
                self._settle(step_id, StepResult(StepStatus.SKIPPED, reason))
            for step_id, reason in decision.stop.items():
                self._stop(step_id, reason)
            if decision.pause is not None:
                paused_before = decision.pause
                self._settle(
                    decision.pause, StepResult(StepStatus.PAUSED, WAITING_FOR_A_PERSON), quiet=True
                )
            # Hand the pool only as many steps as it has free threads: a step queued
            # inside the pool would start before a sibling's failure is looked at.
            with self._lock:
                busy = sum(1 for s in self._states.values() if s.status in ACTIVE)
            starting = decision.start[: max(0, workers - busy)]
            for step_id in starting:
                self._set_state(step_id, StepStatus.QUEUED)
                pool.submit(self._run_step, self.plan.step(step_id))
            if decision.status is not None:
                return decision.status, paused_before
            progressed = bool(starting or decision.skip or decision.stop or decision.pause)
            if not progressed:
                with self._lock:
                    active = any(s.status in ACTIVE for s in self._states.values())
                if not active:  # would wait for ever: a bug in the schedule, say so
                    raise RuntimeError(f"the schedule is stuck: {situation.states}")
                self._finished.get()  # a step finished, or cancel() wants a look

    def _set_state(self, step_id: str, status: StepStatus) -> None:
        with self._lock:
            old = self._states[step_id]
            self._states[step_id] = StepState(status, old.approved, old.stopping)

    def _settle(self, step_id: str, result: StepResult, *, quiet: bool = False) -> None:
        """Record a step's result without running it (skipped, stopped early, paused)."""
        with self._lock:
            self.results[step_id] = result
        self._set_state(step_id, result.status)
        if not quiet:
            self.listener.step_finished(self.plan.step(step_id), result)

    def _stop(self, step_id: str, reason: str) -> None:
        with self._lock:
            self._stop_reasons[step_id] = reason
            old = self._states[step_id]
            self._states[step_id] = StepState(old.status, old.approved, stopping=True)
            running = old.status is StepStatus.RUNNING
        if running:
            self.runner.cancel(step_id)
        elif old.status in (StepStatus.PENDING, StepStatus.QUEUED):
            # Never started: a queued step's thread sees the stop and does nothing.
            self._settle(step_id, StepResult(StepStatus.CANCELLED, reason))

    def _run_step(self, step: StepSpec) -> None:
        try:
            with self._lock:
                state = self._states[step.id]
                if state.stopping or self._cancel.is_set():
                    if state.status is StepStatus.QUEUED:  # the pipeline was stopped meanwhile
                        self.results[step.id] = StepResult(
                            StepStatus.NOT_RUN, not_run_reason(PipelineStatus.CANCELLED)
                        )
                        self._states[step.id] = StepState(StepStatus.NOT_RUN)
                    return
                self._states[step.id] = StepState(StepStatus.RUNNING, state.approved)
                self.results[step.id] = StepResult(StepStatus.RUNNING, started_at=time.time())
            stores = [
                self.context.artifact_dir / source
                for source in artifact_sources(self.plan, step.id)
                if self.results[source].artifacts
            ]
            try:
                result = self.runner.run(step, stores)
            except Exception as exc:  # never leave a step "running" behind a crashed thread
                result = StepResult(StepStatus.FAILED, f"internal error: {exc!r}")
                self.listener.step_finished(step, result)
            with self._lock:
                if step.id in self._stop_reasons and result.status is StepStatus.CANCELLED:
                    result.reason = self._stop_reasons[step.id]
                self.results[step.id] = result
                self._states[step.id] = StepState(result.status, state.approved, state.stopping)
        finally:
            self._finished.put(step.id)
