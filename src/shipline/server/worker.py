"""The embedded worker pool: runs recorded pipelines with the engine, records what happens.

This slice talks to the database directly; the client interface for remote workers (fetch a
job, stream logs, heartbeat, report) and leases come with the scale-out slices.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select, update

from shipline.config import DEFAULT_FILENAME, parse_text
from shipline.engine import PipelineEngine, RunContext, RunListener, StepResult
from shipline.plan import Plan, StepSpec, compile_plan
from shipline.run.environment import RunIdentity
from shipline.run.executor import Executor
from shipline.run.git import changed_files, git
from shipline.run.shell import kill_leftover_steps
from shipline.run.workspace import SourceRef
from shipline.server.state import ServerState
from shipline.server.triggers import push_event
from shipline.store.models import Pipeline, Repository, Step

logger = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StepRecorder(RunListener):
    """Writes step states to the database as the engine reports them."""

    def __init__(self, state: ServerState, pipeline_id: int) -> None:
        self.state = state
        self.pipeline_id = pipeline_id

    def _update(self, step: StepSpec, **values: object) -> None:
        with self.state.db.session() as session:
            session.execute(
                update(Step)
                .where(Step.pipeline_id == self.pipeline_id, Step.step_key == step.id)
                .values(**values)
            )

    def step_started(self, step: StepSpec) -> None:
        self._update(step, status="running", started_at=_now())

    def step_finished(self, step: StepSpec, result: StepResult) -> None:
        self._update(
            step,
            status=result.status.value,
            reason=result.reason,
            exit_code=result.exit_code,
            finished_at=_now(),
        )


class Workers:
    """A fixed number of threads running pipelines, in the order they were recorded."""

    def __init__(self, state: ServerState, executor: Executor, concurrency: int = 2) -> None:
        self.state = state
        self.executor = executor
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pipeline")
        self._lock = threading.Lock()
        self._engines: dict[int, PipelineEngine] = {}

    def submit(self, pipeline_id: int) -> None:
        self._pool.submit(self._run_safely, pipeline_id)

    def recover(self) -> None:
        """After a restart: interrupted pipelines fail with a reason (what their steps left
        running is killed), pending ones run."""
        runs = self.state.settings.data_dir / "runs"
        if runs.is_dir():
            for pgid in kill_leftover_steps(runs):
                logger.warning("killed process group %s left by an interrupted step", pgid)
        with self.state.db.session() as session:
            interrupted = "the server stopped while this ran"
            session.execute(
                update(Step)
                .where(Step.status == "running")
                .values(status="failed", reason=interrupted, finished_at=_now())
            )
            session.execute(
                update(Pipeline)
                .where(Pipeline.status == "running")
                .values(status="failed", reason=interrupted, finished_at=_now())
            )
            pending = session.scalars(
                select(Pipeline.id).where(Pipeline.status == "pending").order_by(Pipeline.id)
            ).all()
        for pipeline_id in pending:
            self.submit(pipeline_id)

    def cancel(self, pipeline_id: int) -> bool:
        """Stop a pipeline: running steps are killed, the rest never start.

        False when it has already finished (nothing to stop).
        """
        with self._lock:
            engine = self._engines.get(pipeline_id)
        if engine is not None:
            engine.cancel()  # the run then records itself as cancelled
            return True
        with self.state.db.session() as session:
            stopped = session.scalar(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id, Pipeline.status == "pending")
                .values(status="cancelled", finished_at=_now())
                .returning(Pipeline.id)
            )
            if stopped is not None:
                session.execute(
                    update(Step)
                    .where(Step.pipeline_id == pipeline_id)
                    .values(status="not run", reason="the pipeline was stopped")
                )
                return True
        with self._lock:  # it may have started between the two looks
            engine = self._engines.get(pipeline_id)
        if engine is not None:
            engine.cancel()
            return True
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def log_dir(self, pipeline_id: int) -> Path:
        return self.state.settings.data_dir / "runs" / str(pipeline_id) / "logs"

    def _run_safely(self, pipeline_id: int) -> None:
        try:
            self._run(pipeline_id)
        except Exception as exc:  # a worker thread must never die silently
            logger.exception("pipeline %s crashed", pipeline_id)
            with self.state.db.session() as session:
                session.execute(
                    update(Pipeline)
                    .where(Pipeline.id == pipeline_id)
                    .values(status="failed", reason=f"internal error: {exc}", finished_at=_now())
                )

    def _plan(self, repo_dir: Path, pipeline: Pipeline) -> Plan:
        message = git(["log", "-1", "--format=%B", pipeline.commit], repo_dir)
        event = push_event(pipeline.ref_type, pipeline.ref_name, message)
        text = git(["show", f"{pipeline.commit}:{DEFAULT_FILENAME}"], repo_dir)
        parsed = parse_text(text)
        assert parsed.file is not None, "the file was valid when the pipeline was recorded"
        plan = compile_plan(parsed.file, event)
        assert isinstance(plan, Plan)
        return plan

    def _run(self, pipeline_id: int) -> None:
        settings = self.state.settings
        with self.state.db.session() as session:
            pipeline = session.get(Pipeline, pipeline_id)
            if pipeline is None or pipeline.status != "pending":
                return
            repository = session.get(Repository, pipeline.repository_id)
            assert repository is not None
            pipeline.status, pipeline.started_at = "running", _now()
            name, commit, number = repository.name, pipeline.commit, pipeline.build_number
            ref_type, ref_name = pipeline.ref_type, pipeline.ref_name
            repo_dir = settings.repos_dir / f"{name}.git"
            plan = self._plan(repo_dir, pipeline)
        changed = changed_files(repo_dir, commit)
        context = RunContext(
            source=SourceRef(
                repo_dir,
                commit,
                branch=ref_name if ref_type == "branch" else None,
                tag=ref_name if ref_type == "tag" else None,
            ),
            identity=RunIdentity(
                commit=commit,
                build_number=number,
                repo_slug=name,
                workspace="shipline",
                git_http_origin=f"{settings.url}/git/{name}.git",
            ),
            run_dir=settings.data_dir / "runs" / str(pipeline_id),
            cache_dir=settings.data_dir / "caches" / name,
            changed_files=tuple(changed) if changed is not None else None,
        )
        recorder = StepRecorder(self.state, pipeline_id)
        engine = PipelineEngine(plan, context, self.executor, recorder)
        with self._lock:
            self._engines[pipeline_id] = engine
        try:
            result = engine.run()
        finally:
            with self._lock:
                self._engines.pop(pipeline_id, None)
        with self.state.db.session() as session:
            # Final word for every step, also those the engine never started (paused at a
            # manual gate, not run after a failure).
            for key, step_result in result.steps.items():
                session.execute(
                    update(Step)
                    .where(Step.pipeline_id == pipeline_id, Step.step_key == key)
                    .values(status=step_result.status.value, reason=step_result.reason)
                )
            session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline_id)
                .values(status=result.status.value, finished_at=_now())
            )
