"""Leases: a running step whose worker stopped sending heartbeats is not left "running".

The keeper looks every few seconds for attempts whose lease expired; at start it also
takes back at once the attempts of this server's previous embedded workers (they died with
the process). A lost attempt is retried as a new attempt when the server allows it
(`retry_lost_steps`, never for deployment steps: a half-done deploy is for a person to
judge), otherwise it fails with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from sqlalchemy import select, update

from shipline.errors import ShiplineError
from shipline.server.logs import LogKey, LogStore
from shipline.server.orchestrator import FINISHED, Orchestrator, now
from shipline.store.db import Database
from shipline.store.models import Pipeline, Step

logger = logging.getLogger(__name__)
SERVER_STOPPED = "the server stopped while this ran"


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        orchestrator: Orchestrator,
        logs: LogStore,
        *,
        lease_seconds: float,
        retry_lost_steps: int = 0,
        on_lost: Callable[[int, int], None] = lambda step_id, attempt: None,
    ) -> None:
        self.on_lost = on_lost  # the job service forgets the attempt's token, stops it
        self.on_failed: Callable[[int], None] = lambda step_id: None  # deployments end
        self.db = db
        self.orchestrator = orchestrator
        self.logs = logs
        self.lease_seconds = lease_seconds
        self.retry_lost_steps = retry_lost_steps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _loop(self) -> None:
        interval = max(0.2, min(5.0, self.lease_seconds / 3))
        while not self._stop.wait(interval):
            try:
                self.reap()
            except Exception:  # the keeper must outlive a bad moment of the database
                logger.exception("lease check failed")

    def reap(self) -> list[int]:
        """Take back every attempt whose lease has expired; returns their step ids."""
        with self.db.session() as session:
            expired = session.scalars(
                select(Step.id).where(Step.status == "running", Step.lease_expires_at < now())
            ).all()
        seconds = f"{self.lease_seconds:g}"
        for step_id in expired:
            self.lose(step_id, f"its worker stopped sending heartbeats (no word for {seconds} s)")
        return list(expired)

    def recover(self, worker_prefix: str, current_worker_prefix: str) -> None:
        """At start: attempts of the embedded workers of an earlier run of this server are
        lost now; pipelines caught between two moves are moved on."""
        with self.db.session() as session:
            orphans = session.scalars(
                select(Step.id).where(
                    Step.status == "running",
                    Step.worker.startswith(worker_prefix),
                    ~Step.worker.startswith(current_worker_prefix),
                )
            ).all()
        for step_id in orphans:
            self.lose(step_id, SERVER_STOPPED)
        with self.db.session() as session:
            unfinished = session.scalars(
                select(Pipeline.id).where(Pipeline.status.not_in(sorted(FINISHED)))
            ).all()
        self.orchestrator.advance_all(unfinished)

    def lose(self, step_id: int, why: str) -> None:
        with self.db.session() as session:
            step = session.get(Step, step_id)
            if step is None or step.status != "running":
                return
            pipeline = session.get(Pipeline, step.pipeline_id)
            assert pipeline is not None
            retry = self.retry_lost_steps > step.lost_count and not self._deploys(pipeline, step)
            key = LogKey(pipeline.id, step.step_key, step.attempt)
            token_hash, pipeline_id = step.job_token_hash, pipeline.id
            values: dict[str, object]
            if retry:
                values = {
                    "status": "queued", "attempt": step.attempt + 1,
                    "lost_count": step.lost_count + 1, "queued_at": now(), "started_at": None,
                    "reason": f"attempt {step.attempt} was lost: {why}",
                }  # fmt: skip
            else:
                values = {"status": "failed", "reason": why, "finished_at": now()}
            moved = session.execute(
                update(Step)
                .where(
                    Step.id == step_id, Step.status == "running", Step.job_token_hash == token_hash
                )
                .values(worker=None, lease_expires_at=None, job_token_hash=None, **values)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return  # it reported meanwhile
        self.on_lost(step_id, key.attempt)
        note = f"\n[shipline] {why}; " + (
            f"it runs again as attempt {key.attempt + 1}\n" if retry else "the step failed\n"
        )
        with contextlib.suppress(ShiplineError):
            self.logs.append(key, self.logs.size(key), note.encode())
        self.logs.finished(key)
        logger.warning("step %s of pipeline %s lost: %s", key.step_key, pipeline_id, why)
        if retry:
            self.orchestrator.on_queued()
        else:
            self.on_failed(step_id)
            self.orchestrator.advance(pipeline_id)

    def _deploys(self, pipeline: Pipeline, step: Step) -> bool:
        try:
            plan = self.orchestrator.compile_pipeline(pipeline).plan
            return plan.step(step.step_key).deployment is not None
        except (ShiplineError, KeyError):
            return True  # unknown: do not repeat it
