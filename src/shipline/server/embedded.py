"""Embedded workers: the worker code, in the server's process, over direct calls.

`EmbeddedClient` is the `WorkerClient` a worker on another machine would have, minus the
network: the same JobService methods an HTTP client would reach, so the embedded default
exercises the protocol remote workers use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from shipline.run.executor import Executor
from shipline.server.jobs import JobService
from shipline.worker.pool import WorkerPool
from shipline.worker.protocol import Assignment, Heartbeat, StepReport


class EmbeddedClient:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def claim(self, worker: str, wait_seconds: float) -> Assignment | None:
        return self.jobs.claim(worker, wait_seconds)

    def heartbeat(self, job: Assignment) -> Heartbeat:
        return self.jobs.heartbeat(job)

    def append_log(self, job: Assignment, offset: int, data: bytes) -> None:
        self.jobs.append_log(job, offset, data)

    def fetch_artifacts(
        self, job: Assignment, pipeline_id: int, step_key: str, into: Path
    ) -> Path | None:
        # Same machine: restore straight from the server's store, no copy.
        store = self.jobs.artifact_dir(pipeline_id, step_key)
        return store if store.is_dir() else None

    def upload_artifacts(self, job: Assignment, store: Path) -> None:
        self.jobs.upload_artifacts(job, store)

    def report(self, job: Assignment, report: StepReport) -> None:
        self.jobs.report(job, report)

    def watch(self, job: Assignment, stop: Callable[[], None]) -> None:
        """Stop requests reach an in-process step at once, not at its next heartbeat."""
        self.jobs.watch(job.job_id, job.attempt, stop)

    def unwatch(self, job: Assignment) -> None:
        self.jobs.unwatch(job.job_id, job.attempt)


def boot_id() -> str:
    """Names this server process's embedded workers, so the next start knows them as gone."""
    return uuid.uuid4().hex[:12]


EMBEDDED_PREFIX = "embedded:"


def start_embedded_workers(
    jobs: JobService, executor: Executor, *, boot: str, size: int, data_dir: Path
) -> WorkerPool:
    pool = WorkerPool(
        EmbeddedClient(jobs),
        executor,
        name=f"{EMBEDDED_PREFIX}{boot}",
        size=size,
        work_root=data_dir / "work",
        cache_root=data_dir / "caches",
    )
    pool.start()
    return pool
