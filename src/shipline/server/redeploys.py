"""Redeploy and rollback: run an earlier deployment again, as it ran.

A new pipeline holds only that deployment's plan item (its step, or its whole stage), for the
same commit and event; its steps count as approved by whoever asked (a rollback is the
click), and when they run they restore the original pipeline's artifacts and get the
variables the original deployment ran with (see JobService).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipline.errors import ShiplineError
from shipline.server.orchestrator import now
from shipline.server.plans import compile_recorded
from shipline.server.state import ServerState
from shipline.server.triggers import record_pipeline
from shipline.store.models import Deployment, Environment, Pipeline, Repository, Step


class RedeployError(ShiplineError):
    """There is nothing to redeploy or roll back to, or it cannot run again."""


def rollback_target(
    session: Session, environment: Environment, to: int | None, current: Deployment | None
) -> Deployment:
    """The deployment a rollback goes back to: `to`, or the newest successful one before
    what the environment runs now that ran another commit."""
    if to is not None:
        target = session.get(Deployment, to)
        if target is None or target.environment_id != environment.id:
            raise RedeployError(f"no deployment #{to} in {environment.name}")
        if target.status != "passed":
            raise RedeployError(f"deployment #{to} {target.status}: only a successful one")
        return target
    if current is None:
        raise RedeployError(f"{environment.name} has never been deployed: nothing to go back to")
    earlier = session.scalar(
        select(Deployment)
        .where(
            Deployment.environment_id == environment.id,
            Deployment.status == "passed",
            Deployment.commit != current.commit,
            Deployment.finished_at < current.finished_at,
        )
        .order_by(Deployment.finished_at.desc(), Deployment.id.desc())
        .limit(1)
    )
    if earlier is None:
        raise RedeployError(
            f"{environment.name} has run only {current.commit[:12]}: nothing to go back to"
        )
    return earlier


def start_redeploy(
    state: ServerState, repository: Repository, target: Deployment, user: str, trigger: str
) -> tuple[int, int]:
    """Record the pipeline that repeats `target`; returns its (id, build number)."""
    with state.db.session() as session:
        source = session.get(Pipeline, target.pipeline_id)
        step = session.get(Step, target.step_id)
        if source is None or step is None:
            raise RedeployError(f"the pipeline of deployment #{target.id} no longer exists")
        repo_dir = state.repo_dir(repository.name)
        try:
            compiled = compile_recorded(repo_dir, source.commit, source.event, step.step_key)
        except ShiplineError as exc:
            raise RedeployError(f"cannot run deployment #{target.id} again: {exc}") from exc
        pipeline = record_pipeline(
            session, repository, compiled, commit=source.commit, trigger=trigger,
            triggered_by=user, rerun_of=source.build_number,
        )  # fmt: skip
        pipeline.redeploys, pipeline.only_step = target.id, step.step_key
        session.flush()
        session.execute(  # the request is the approval: no manual gate pauses it again
            update(Step)
            .where(Step.pipeline_id == pipeline.id)
            .values(approved_by=user, approved_at=now())
        )
        pipeline_id, number = pipeline.id, pipeline.build_number
    state.orchestrator.plans.put(pipeline_id, compiled)
    state.orchestrator.advance(pipeline_id)
    return pipeline_id, number
