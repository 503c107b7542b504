"""The server's driver of the schedule: pipeline and step rows in, state changes out.

After anything that can move a pipeline on (recorded, a step reported, a manual step run,
a rerun, a stop, a lost worker) `advance` reads the rows afresh, asks the pure
`schedule.advance` what to do, and writes the answer. Every write is a conditional UPDATE
("... WHERE status = what I saw"), so a worker that claims or reports at the same moment
can never be overwritten; when one of them loses, `advance` simply looks again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from shipline.engine.results import PipelineStatus, StepStatus
from shipline.engine.schedule import (
    WAITING_FOR_A_PERSON,
    Situation,
    StepState,
    advance,
    not_run_reason,
    reopened,
)
from shipline.errors import ShiplineError
from shipline.server.plans import CompiledPipeline, PlanCache

if TYPE_CHECKING:
    from shipline.server.deploys import DeploymentService
from shipline.store.db import Database
from shipline.store.models import Pipeline, Step

logger = logging.getLogger(__name__)
FINISHED = frozenset({"passed", "failed", "cancelled"})
RERUNNABLE = frozenset({"failed", "cancelled"})


class ConflictError(ShiplineError):
    """The pipeline or step is not in a state that allows this (e.g. running a step twice)."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _state(row: Step) -> StepState:
    # `waiting` (for its environment's lock) is queued as far as the schedule goes.
    status = StepStatus.QUEUED if row.status == "waiting" else StepStatus(row.status)
    return StepState(
        status,
        approved=row.approved_by is not None,
        stopping=row.stop_reason is not None,
    )


_FRESH_ATTEMPT: dict[str, Any] = {
    "status": StepStatus.PENDING.value,
    "reason": "",
    "exit_code": None,
    "started_at": None,
    "finished_at": None,
    "queued_at": None,
    "stop_reason": None,
    "worker": None,
    "lease_expires_at": None,
    "job_token_hash": None,
    "artifact_count": 0,
    "approved_by": None,
    "approved_at": None,
}


class Orchestrator:
    """Moves pipelines on. Thread-safe; one lock per pipeline keeps its moves in order."""

    def __init__(
        self,
        db: Database,
        plans: PlanCache,
        compile_pipeline: Callable[[Pipeline], CompiledPipeline],
    ) -> None:
        self.db = db
        self.plans = plans
        self.compile_pipeline = compile_pipeline
        # Set by the job service: wake workers; tell a running step to stop.
        self.on_queued: Callable[[], None] = lambda: None
        self.on_stop: Callable[[int], None] = lambda step_id: None
        self.on_finished: list[Callable[[int, str], None]] = []
        self.on_started: list[Callable[[int], None]] = []
        # After any look at a pipeline: steps may have ended without running ("not run",
        # cancelled), which whoever follows their logs wants to hear at once.
        self.on_looked: list[Callable[[int], None]] = []
        self.deploys: DeploymentService | None = None  # set by the server
        self._locks: dict[int, threading.RLock] = defaultdict(threading.RLock)
        self._guard = threading.Lock()

    def _lock(self, pipeline_id: int) -> threading.RLock:
        with self._guard:
            return self._locks[pipeline_id]

    # ---- moving on ----------------------------------------------------------------------

    def advance(self, pipeline_id: int) -> None:
        """Carry out what the schedule says now; safe to call at any time, any number."""
        try:
            for _ in range(5):  # a lost race means: look again
                if not self._advance_once(pipeline_id):
                    return
            logger.warning("pipeline %s: state kept changing under the orchestrator", pipeline_id)
        finally:
            for callback in self.on_looked:
                callback(pipeline_id)

    def _advance_once(self, pipeline_id: int) -> bool:
        """One look and its writes; True when a concurrent change means look again."""
        queued: list[int] = []
        stops: list[int] = []
        environments: list[int] = []
        superseded: list[int] = []
        finished: str | None = None
        started = False
        conflict = False
        with self._lock(pipeline_id), self.db.session() as session:
            pipeline = session.scalar(
                select(Pipeline)
                .where(Pipeline.id == pipeline_id)
                .options(selectinload(Pipeline.steps))
            )
            if pipeline is None or pipeline.status in FINISHED:
                return False
            compiled = self.compile_pipeline(pipeline)
            rows = {row.step_key: row for row in pipeline.steps}
            states = {key: _state(row) for key, row in rows.items()}
            for _ in range(len(rows) + 2):
                decision = advance(
                    Situation(
                        compiled.plan,
                        states,
                        compiled.changed_files,
                        stopped=pipeline.stop_requested,
                    )
                )
                for key, reason in decision.skip.items():
                    conflict |= not _move(
                        session, rows[key], ["pending"], status="skipped", reason=reason,
                        finished_at=now(),
                    )  # fmt: skip
                    states[key] = StepState(StepStatus.SKIPPED)
                for key, reason in decision.stop.items():
                    row = rows[key]
                    if _move(
                        session, row, ["pending", "queued"], status="cancelled", reason=reason
                    ):
                        states[key] = StepState(StepStatus.CANCELLED, stopping=True)
                    elif _move(session, row, ["running"], stop_reason=reason):
                        states[key] = StepState(StepStatus.RUNNING, stopping=True)
                        stops.append(row.id)
                    else:
                        conflict = True
                if decision.pause is not None:
                    conflict |= not _move(
                        session, rows[decision.pause], ["pending"], status="paused",
                        reason=WAITING_FOR_A_PERSON,
                    )  # fmt: skip
                    states[decision.pause] = StepState(StepStatus.PAUSED)
                for key in decision.start:
                    row = rows[key]
                    target = "queued"
                    spec = compiled.plan.step(key)
                    if spec.deployment is not None and self.deploys is not None:
                        begun = self.deploys.begin(session, pipeline, row, spec, compiled.plan)
                        target = begun.status
                        environments.append(begun.environment_id)
                        superseded.extend(begun.superseded)
                    if _move(
                        session, row, ["pending", "paused"], status=target, reason="",
                        queued_at=now(),
                    ):  # fmt: skip
                        queued.append(row.id)
                        states[key] = StepState(StepStatus.QUEUED, states[key].approved)
                    else:
                        conflict = True
                if conflict:
                    break
                if decision.status is not None:
                    finished = self._conclude(session, pipeline, decision.status)
                    break
                if not decision.changes_anything:
                    break
            if queued and pipeline.status in ("pending", "paused"):
                started = pipeline.status == "pending"
                session.execute(
                    update(Pipeline)
                    .where(Pipeline.id == pipeline_id, Pipeline.status.in_(["pending", "paused"]))
                    .values(status="running")
                )
        if queued:
            self.on_queued()
        if started:
            for on_started in self.on_started:
                on_started(pipeline_id)
        if self.deploys is not None:
            for other in superseded:
                self.request_stop(other)
            self.deploys.dispatch(environments)
        for step_id in stops:
            self.on_stop(step_id)
        if finished is not None:  # an ending, or a pause
            for callback in self.on_finished:
                callback(pipeline_id, finished)
        return conflict

    def _conclude(self, session: Session, pipeline: Pipeline, status: PipelineStatus) -> str | None:
        """Write how the pipeline ended (or that it paused); the status when this call is
        the one that changed it, else None (so it is announced once)."""
        if status is PipelineStatus.PAUSED:
            paused = session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline.id, Pipeline.status.in_(["pending", "running"]))
                .values(status="paused")
            )
            return "paused" if paused.rowcount else None  # type: ignore[attr-defined]
        session.execute(
            update(Step)
            .where(
                Step.pipeline_id == pipeline.id,
                Step.status.in_(["pending", "paused", "queued", "waiting"]),
            )
            .values(status="not run", reason=not_run_reason(status))
        )
        ended = session.execute(
            update(Pipeline)
            .where(Pipeline.id == pipeline.id, Pipeline.status.not_in(sorted(FINISHED)))
            .values(status=status.value, finished_at=now())
        )
        return status.value if ended.rowcount else None  # type: ignore[attr-defined]

    # ---- what people ask for ------------------------------------------------------------

    def request_stop(self, pipeline_id: int) -> bool:
        """Stop a pipeline: queued steps never start, running ones are killed.

        False when it has already finished.
        """
        with self._lock(pipeline_id), self.db.session() as session:
            stopped = session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.status.not_in(FINISHED))
                .values(stop_requested=True)
            )
            if stopped.rowcount == 0:  # type: ignore[attr-defined]
                return False
            dropped = session.scalars(
                select(Step.id).where(
                    Step.pipeline_id == pipeline_id, Step.status.in_(["queued", "waiting"])
                )
            ).all()
            session.execute(
                update(Step)
                .where(Step.id.in_(dropped), Step.status.in_(["queued", "waiting"]))
                .values(status="not run", reason=not_run_reason(PipelineStatus.CANCELLED))
            )
            running = session.scalars(
                select(Step.id).where(Step.pipeline_id == pipeline_id, Step.status == "running")
            ).all()
        for step_id in running:
            self.on_stop(step_id)
        if self.deploys is not None:
            for step_id in dropped:
                self.deploys.step_ended(step_id, "not run")
        self.advance(pipeline_id)
        return True

    def run_manual_step(self, pipeline_id: int, step_key: str, user: str) -> None:
        """A person triggers the manual step the pipeline is paused at."""
        with self._lock(pipeline_id), self.db.session() as session:
            approved = session.execute(
                update(Step)
                .where(
                    Step.pipeline_id == pipeline_id,
                    Step.step_key == step_key,
                    Step.status == "paused",
                )
                .values(approved_by=user, approved_at=now())
            )
            if approved.rowcount == 0:  # type: ignore[attr-defined]
                status = session.scalar(
                    select(Step.status).where(
                        Step.pipeline_id == pipeline_id, Step.step_key == step_key
                    )
                )
                raise ConflictError(
                    f"this step is {status}: only a step the pipeline is paused at can be run"
                )
            session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.status == "paused")
                .values(status="running")
            )
        self.advance(pipeline_id)

    def rerun_failed(self, pipeline_id: int) -> list[str]:
        """Run the failed, stopped and never-run steps of a finished pipeline again, as new
        attempts; passed steps keep their results and artifacts. Returns the step keys."""
        with self._lock(pipeline_id), self.db.session() as session:
            pipeline = session.scalar(
                select(Pipeline)
                .where(Pipeline.id == pipeline_id)
                .options(selectinload(Pipeline.steps))
            )
            if pipeline is None:
                raise ConflictError("no such pipeline")
            if pipeline.status not in RERUNNABLE:
                raise ConflictError(
                    f"the pipeline is {pipeline.status}: only failed or stopped pipelines "
                    "rerun their failed steps"
                )
            compiled = self.compile_pipeline(pipeline)
            rows = {row.step_key: row for row in pipeline.steps}
            before = {key: _state(row) for key, row in rows.items()}
            after = reopened(compiled.plan, before)
            again = [key for key in rows if after[key] != before[key]]
            for key in again:
                row = rows[key]
                session.execute(
                    update(Step)
                    .where(Step.id == row.id)
                    .values(
                        **_FRESH_ATTEMPT,
                        attempt=row.attempt + (1 if row.started_at is not None else 0),
                    )
                )
            session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id)
                .values(status="running", stop_requested=False, finished_at=None)
            )
        self.advance(pipeline_id)
        return again

    def advance_all(self, pipeline_ids: Iterable[int]) -> None:
        for pipeline_id in pipeline_ids:
            try:
                self.advance(pipeline_id)
            except ShiplineError as exc:
                self.fail(pipeline_id, f"cannot continue: {exc}")

    def fail(self, pipeline_id: int, reason: str) -> None:
        """End a pipeline that cannot go on (its file vanished from the repository...)."""
        with self._lock(pipeline_id), self.db.session() as session:
            session.execute(
                update(Step)
                .where(
                    Step.pipeline_id == pipeline_id,
                    Step.status.in_(["pending", "queued", "paused", "waiting"]),
                )
                .values(status="not run", reason=reason)
            )
            session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.status.not_in(FINISHED))
                .values(status="failed", finished_at=now())
            )
        for callback in self.on_looked:
            callback(pipeline_id)


def _move(session: Session, row: Step, expected: list[str], **values: Any) -> bool:
    """Change `row` if it is still in one of the `expected` states; False if it was not."""
    result = session.execute(
        update(Step).where(Step.id == row.id, Step.status.in_(expected)).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
