"""What the pages read: small, indexed queries that return plain rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipline.store.models import Pipeline, Step

PIPELINES = Pipeline.__table__
STEPS = Step.__table__


def latest_per_branch(session: Session, repository_id: int, limit: int = 6) -> list[Any]:
    """The newest pipeline of each branch or tag, most recently active first."""
    newest = (
        select(func.max(PIPELINES.c.build_number).label("number"))
        .where(PIPELINES.c.repository_id == repository_id)
        .group_by(PIPELINES.c.ref_name)
        .subquery()
    )
    return list(
        session.execute(
            select(PIPELINES)
            .where(
                PIPELINES.c.repository_id == repository_id,
                PIPELINES.c.build_number.in_(select(newest.c.number)),
            )
            .order_by(PIPELINES.c.build_number.desc())
            .limit(limit)
        ).all()
    )


def pipeline_page(
    session: Session,
    repository_id: int,
    *,
    before: int | None,
    branch: str | None,
    status_: str | None,
    trigger: str | None,
    limit: int,
) -> list[Any]:
    query = select(PIPELINES).where(PIPELINES.c.repository_id == repository_id)
    if before is not None:
        query = query.where(PIPELINES.c.build_number < before)
    if branch:
        query = query.where(PIPELINES.c.ref_name == branch)
    if status_:
        query = query.where(PIPELINES.c.status == status_)
    if trigger:
        query = query.where(PIPELINES.c.trigger == trigger)
    return list(session.execute(query.order_by(PIPELINES.c.build_number.desc()).limit(limit)).all())


def steps_of(session: Session, pipeline_ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    if pipeline_ids:
        for row in session.execute(
            select(STEPS)
            .where(STEPS.c.pipeline_id.in_(pipeline_ids))
            .order_by(STEPS.c.pipeline_id, STEPS.c.number)
        ):
            found[row.pipeline_id].append(row)
    return found


def branches(session: Session, repository_id: int) -> list[str]:
    return list(
        session.scalars(
            select(PIPELINES.c.ref_name)
            .where(PIPELINES.c.repository_id == repository_id)
            .group_by(PIPELINES.c.ref_name)
            .order_by(func.max(PIPELINES.c.build_number).desc())
            .limit(50)
        ).all()
    )
