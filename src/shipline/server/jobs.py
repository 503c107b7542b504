"""The server's half of the worker protocol: claim, heartbeat, log, artifacts, report.

A queued step is claimed with one conditional UPDATE (queued → running), so two workers —
or one message delivered twice — can never both run it. The claim gives the attempt a job
token and a lease; heartbeats renew the lease, and every later call must carry the token of
the attempt that is still running, so a worker that lost its lease cannot report over the
attempt that replaced it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipline.engine.results import StepStatus
from shipline.engine.schedule import artifact_sources
from shipline.errors import ShiplineError
from shipline.plan.event_codec import event_from_json, event_to_dict
from shipline.server.deploys import DeploymentService, Snapshot
from shipline.server.logs import LogKey, LogStore
from shipline.server.orchestrator import Orchestrator, now
from shipline.server.variables import VariableService
from shipline.store.db import Database
from shipline.store.models import Deployment, Environment, Pipeline, Repository, Step
from shipline.worker.protocol import Assignment, Heartbeat, StepReport

logger = logging.getLogger(__name__)
REPORTABLE = frozenset(
    {StepStatus.PASSED.value, StepStatus.FAILED.value, StepStatus.CANCELLED.value}
)


class JobTokenError(ShiplineError):
    """A worker call carried no valid token for a running step attempt."""


def braced_uuid5(name: str) -> str:
    """The same {uuid} for the same name: every step of a pipeline sees one pipeline UUID."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"shipline:{name}")) + "}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class JobQueue:
    """Wakes waiting workers when steps are queued (the embedded, in-process transport)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def generation(self) -> int:
        with self._condition:
            return self._generation

    def wait(self, seen: int, seconds: float) -> None:
        """Return when something was queued since `seen`, or after `seconds`."""
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen, seconds)


@dataclass(frozen=True)
class JobSettings:
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    git_base_url: str = ""  # e.g. http://127.0.0.1:8000, for BITBUCKET_GIT_HTTP_ORIGIN


@dataclass(frozen=True)
class _Live:
    step_id: int
    attempt: int
    pipeline_id: int
    step_key: str


class JobService:
    def __init__(
        self,
        db: Database,
        orchestrator: Orchestrator,
        logs: LogStore,
        variables: VariableService,
        repos_dir: Path,
        artifacts_root: Path,
        settings: JobSettings,
    ) -> None:
        self.db = db
        self.orchestrator = orchestrator
        self.logs = logs
        self.variables = variables
        self.repos_dir = repos_dir
        self.artifacts_root = artifacts_root
        self.settings = settings
        self.queue = JobQueue()
        self._live: dict[str, _Live] = {}  # token hash → attempt
        self._watchers: dict[tuple[int, int], Callable[[], None]] = {}  # attempt → stop it
        self._lock = threading.Lock()
        self.deploys: DeploymentService | None = None  # set by the server
        orchestrator.on_queued = self.queue.notify
        orchestrator.on_stop = self.signal_stop

    # ---- claiming -----------------------------------------------------------------------

    def claim(self, worker: str, wait_seconds: float) -> Assignment | None:
        deadline = time.monotonic() + wait_seconds
        while True:
            seen = self.queue.generation()
            job = self._claim_one(worker)
            remaining = deadline - time.monotonic()
            if job is not None or remaining <= 0:
                return job
            self.queue.wait(seen, remaining)

    def _claim_one(self, worker: str) -> Assignment | None:
        with self.db.session() as session:
            candidates = session.scalars(
                select(Step.id).where(Step.status == "queued").order_by(Step.queued_at, Step.id)
            ).fetchmany(8)
            token = secrets.token_urlsafe(32)
            claimed: int | None = None
            for step_id in candidates:
                started = now()
                result = session.execute(
                    update(Step)
                    .where(Step.id == step_id, Step.status == "queued")
                    .values(
                        status="running",
                        worker=worker,
                        started_at=started,
                        lease_expires_at=started
                        + dt.timedelta(seconds=self.settings.lease_seconds),
                        job_token_hash=_hash(token),
                    )
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    claimed = step_id
                    break
            if claimed is None:
                return None
            step = session.get(Step, claimed)
            assert step is not None
            pipeline = session.get(Pipeline, step.pipeline_id)
            assert pipeline is not None
            session.execute(
                update(Pipeline)
                .where(Pipeline.id == pipeline.id, Pipeline.started_at.is_(None))
                .values(started_at=step.started_at)
            )
            repository = session.get(Repository, pipeline.repository_id)
            assert repository is not None
            compiled = self.orchestrator.compile_pipeline(pipeline)
            spec = compiled.plan.step(step.step_key)
            artifacts = self.artifacts_for(session, pipeline, step.step_key)
            env, secured = self._variables_for(session, pipeline, spec.deployment)
            started_deployment: int | None = None
            if spec.deployment is not None and self.deploys is not None:
                started_deployment = self.deploys.claimed(
                    session, step.id, Snapshot(env, secured), self.variables.box
                )
            job = Assignment(
                job_id=step.id,
                attempt=step.attempt,
                token=token,
                pipeline_id=pipeline.id,
                repo=repository.name,
                build_number=pipeline.build_number,
                step_key=step.step_key,
                commit=pipeline.commit,
                event=event_to_dict(event_from_json(pipeline.event)),
                pipeline_file=compiled.pipeline_file,
                source=str(self.repos_dir / f"{repository.name}.git"),
                variables=env,
                secured=secured,
                artifacts=artifacts,
                git_http_origin=f"{self.settings.git_base_url}/git/{repository.name}.git",
                pipeline_uuid=braced_uuid5(f"pipeline:{pipeline.id}"),
                repo_uuid=braced_uuid5(f"repository:{repository.id}"),
                heartbeat_seconds=self.settings.heartbeat_seconds,
            )
        with self._lock:
            self._live[_hash(token)] = _Live(step.id, step.attempt, pipeline.id, step.step_key)
        if started_deployment is not None and self.deploys is not None:
            self.deploys.announce(started_deployment, "running")
        return job

    def _variables_for(
        self, session: Session, pipeline: Pipeline, deployment: str | None
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        """Repository variables, overridden by the environment's for a deployment step; a
        redeploy or rollback runs with the variables the deployment it repeats ran with."""
        if self.deploys is not None:
            snapshot = self.deploys.snapshot_of(session, pipeline, self.variables.box)
            if snapshot is not None:
                return snapshot.values, snapshot.secured
        environment_id = None
        if deployment is not None:
            environment_id = session.scalar(
                select(Environment.id).where(
                    Environment.repository_id == pipeline.repository_id,
                    Environment.name == deployment,
                )
            )
        return self.variables.resolve(session, pipeline.repository_id, environment_id)

    def artifacts_for(
        self, session: Session, pipeline: Pipeline, step_key: str
    ) -> tuple[tuple[int, str], ...]:
        """Which kept artifacts the step restores: those of the steps before it; for a
        redeploy, of the pipeline it repeats (except steps it runs again itself)."""
        plan = self.orchestrator.compile_pipeline(pipeline).plan
        sources = [(pipeline.id, key) for key in artifact_sources(plan, step_key)]
        original: int | None = None
        if pipeline.redeploys is not None:
            original = session.scalar(
                select(Deployment.pipeline_id).where(Deployment.id == pipeline.redeploys)
            )
            source_pipeline = session.get(Pipeline, original) if original else None
            if source_pipeline is not None:
                full = self.orchestrator.compile_pipeline(source_pipeline).plan
                again = {s.id for s in plan.steps()}
                sources = [
                    (pipeline.id if key in again else source_pipeline.id, key)
                    for key in artifact_sources(full, step_key)
                ]
        kept = {
            (row.pipeline_id, row.step_key)
            for row in session.execute(
                select(Step.pipeline_id, Step.step_key).where(
                    Step.pipeline_id.in_({p for p, _ in sources} or {pipeline.id}),
                    Step.artifact_count > 0,
                )
            )
        }
        return tuple(source for source in sources if source in kept)

    # ---- while it runs ------------------------------------------------------------------

    def _verify(self, job: Assignment) -> _Live:
        digest = _hash(job.token)
        with self._lock:
            live = self._live.get(digest)
        if live is not None and live.step_id == job.job_id and live.attempt == job.attempt:
            return live
        with self.db.session() as session:  # e.g. after a restart of the server
            step = session.scalar(
                select(Step).where(
                    Step.id == job.job_id,
                    Step.attempt == job.attempt,
                    Step.job_token_hash == digest,
                    Step.status == "running",
                )
            )
            if step is None:
                raise JobTokenError("this job token belongs to no running step attempt")
            live = _Live(step.id, step.attempt, step.pipeline_id, step.step_key)
        with self._lock:
            self._live[digest] = live
        return live

    def heartbeat(self, job: Assignment) -> Heartbeat:
        try:
            live = self._verify(job)
        except JobTokenError:
            return Heartbeat(lost=True)
        with self.db.session() as session:
            renewed = session.execute(
                update(Step)
                .where(
                    Step.id == live.step_id,
                    Step.status == "running",
                    Step.job_token_hash == _hash(job.token),
                )
                .values(lease_expires_at=now() + dt.timedelta(seconds=self.settings.lease_seconds))
            )
            if not renewed.rowcount:  # type: ignore[attr-defined]
                self._forget(job.token)
                return Heartbeat(lost=True)
            stop_reason, stop_requested = session.execute(
                select(Step.stop_reason, Pipeline.stop_requested)
                .join(Pipeline, Pipeline.id == Step.pipeline_id)
                .where(Step.id == live.step_id)
            ).one()
        return Heartbeat(stop=bool(stop_reason) or bool(stop_requested))

    def append_log(self, job: Assignment, offset: int, data: bytes) -> int:
        live = self._verify(job)
        return self.logs.append(LogKey(live.pipeline_id, live.step_key, live.attempt), offset, data)

    def artifact_dir(self, pipeline_id: int, step_key: str) -> Path:
        return self.artifacts_root / str(pipeline_id) / step_key

    def upload_artifacts(self, job: Assignment, store: Path) -> None:
        live = self._verify(job)
        target = self.artifact_dir(live.pipeline_id, live.step_key)
        shutil.rmtree(target, ignore_errors=True)  # an earlier attempt's
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            store.rename(target)
        except OSError:  # another file system
            shutil.copytree(store, target, symlinks=True)

    def report(self, job: Assignment, report: StepReport) -> bool:
        """Record how the attempt ended; False when it was no longer this worker's."""
        live = self._verify(job)
        if report.status not in REPORTABLE:
            raise ShiplineError(f"a step ends passed, failed or cancelled, not {report.status}")
        with self.db.session() as session:
            stop_reason = session.scalar(select(Step.stop_reason).where(Step.id == live.step_id))
            reason = report.reason
            if report.status == StepStatus.CANCELLED.value and stop_reason:
                reason = stop_reason  # e.g. "fail-fast: 'Unit' failed" rather than "stopped"
            result = session.execute(
                update(Step)
                .where(
                    Step.id == live.step_id,
                    Step.status == "running",
                    Step.job_token_hash == _hash(job.token),
                )
                .values(
                    status=report.status,
                    reason=reason,
                    exit_code=report.exit_code,
                    finished_at=now(),
                    artifact_count=len(report.artifacts),
                    lease_expires_at=None,
                    job_token_hash=None,
                )
            )
            accepted = bool(result.rowcount)  # type: ignore[attr-defined]
        self._forget(job.token)
        self.logs.finished(LogKey(live.pipeline_id, live.step_key, live.attempt))
        if accepted:
            if self.deploys is not None:
                self.deploys.step_ended(live.step_id, report.status)
            self.orchestrator.advance(live.pipeline_id)
        else:
            logger.warning("late report for step %s ignored: its lease was lost", live.step_key)
        return accepted

    def _forget(self, token: str) -> None:
        with self._lock:
            self._live.pop(_hash(token), None)

    def forget_attempt(self, step_id: int, attempt: int) -> None:
        """That attempt lost its lease: its token is worth nothing now, and an in-process
        worker still running it is told to stop."""
        with self._lock:
            for digest, live in list(self._live.items()):
                if (live.step_id, live.attempt) == (step_id, attempt):
                    del self._live[digest]
        self.signal_stop(step_id, attempt)

    # ---- stopping -----------------------------------------------------------------------

    def watch(self, step_id: int, attempt: int, stop: Callable[[], None]) -> None:
        """In-process workers: call `stop` at once when the attempt must stop (no heartbeat
        round trip)."""
        with self._lock:
            self._watchers[(step_id, attempt)] = stop

    def unwatch(self, step_id: int, attempt: int) -> None:
        with self._lock:
            self._watchers.pop((step_id, attempt), None)

    def signal_stop(self, step_id: int, attempt: int | None = None) -> None:
        """Stop the step's attempt `attempt` (default: every attempt still running here)."""
        with self._lock:
            stops = [
                stop
                for (watched, its_attempt), stop in self._watchers.items()
                if watched == step_id and attempt in (None, its_attempt)
            ]
        for stop in stops:
            stop()
