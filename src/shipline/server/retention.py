"""Artifact retention: kept files go after a while, except what an environment may need to
roll back to.

Artifacts of pipelines that finished more than `days` ago are deleted (Bitbucket keeps them
14 days), except those of the pipelines behind each environment's last `keep` deployments —
and, for a redeploy or rollback, of the pipeline it repeats, whose artifacts it restores —
so that a rollback always finds the files it needs.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from pathlib import Path

from sqlalchemy import select

from shipline.store.db import Database
from shipline.store.models import Deployment, Environment, Pipeline

logger = logging.getLogger(__name__)
RAN = ("passed", "failed", "running")  # deployments an environment has actually run


def protected_pipelines(db: Database, keep: int) -> set[int]:
    """Pipelines whose artifacts some environment's last `keep` deployments need."""
    needed: set[int] = set()
    with db.session() as session:
        for environment_id in session.scalars(select(Environment.id)).all():
            recent = session.execute(
                select(Deployment.pipeline_id, Deployment.source_id)
                .where(Deployment.environment_id == environment_id, Deployment.status.in_(RAN))
                .order_by(Deployment.id.desc())
                .limit(keep)
            ).all()
            for pipeline_id, source_id in recent:
                needed.add(pipeline_id)
                while source_id is not None:  # a redeploy restores its source's artifacts
                    source = session.get(Deployment, source_id)
                    if source is None:
                        break
                    needed.add(source.pipeline_id)
                    source_id = source.source_id
    return needed


def prune_artifacts(
    db: Database, artifacts_root: Path, *, days: float, keep: int, now: dt.datetime | None = None
) -> list[int]:
    """Delete what retention allows; returns the pipeline ids whose artifacts went."""
    if not artifacts_root.is_dir():
        return []
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    kept = protected_pipelines(db, keep)
    stored = [int(p.name) for p in artifacts_root.iterdir() if p.name.isdigit()]
    with db.session() as session:
        expired = set(
            session.scalars(
                select(Pipeline.id).where(
                    Pipeline.id.in_(stored),
                    Pipeline.finished_at.is_not(None),
                    Pipeline.finished_at < cutoff,
                )
            ).all()
        )
    gone = sorted(expired - kept)
    for pipeline_id in gone:
        shutil.rmtree(artifacts_root / str(pipeline_id), ignore_errors=True)
    if gone:
        logger.info("artifact retention removed the artifacts of %d pipeline(s)", len(gone))
    return gone


class ArtifactJanitor:
    """Prunes once an hour, on a daemon thread."""

    def __init__(self, db: Database, artifacts_root: Path, *, days: float, keep: int) -> None:
        self.db, self.root, self.days, self.keep = db, artifacts_root, days, keep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="artifact-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(3600):
            try:
                prune_artifacts(self.db, self.root, days=self.days, keep=self.keep)
            except Exception:  # the janitor outlives a bad moment of the database
                logger.exception("artifact retention failed")
