"""Environments and deployments: what runs where, its history, what production would gain
from staging, deployment variables, redeploy and rollback."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipline.errors import GitError
from shipline.run.git import git
from shipline.server.api.pipelines import find_pipeline, pipeline_out
from shipline.server.api.schemas import (
    CommitOut,
    Comparison,
    DeploymentOut,
    EnvironmentChange,
    EnvironmentOut,
    PipelineOut,
    RollbackRequest,
    VariableIn,
    VariableOut,
)
from shipline.server.auth import Admin, Deployer, Developer, Viewer
from shipline.server.deploys import environment, recent_deployments, waiting_deployments
from shipline.server.dora import CommitFact, DeploymentFact, DoraError, dora_report
from shipline.server.lookups import find_environment, find_repository
from shipline.server.redeploys import RedeployError, rollback_target, start_redeploy
from shipline.server.state import ServerState, StateDep
from shipline.server.variables import VariableError
from shipline.store.models import Deployment, Environment, Pipeline, Step

router = APIRouter(prefix="/api/v1", tags=["deployments"])


def deployment_out(session: Session, deployment: Deployment, env_name: str) -> DeploymentOut:
    step = session.get(Step, deployment.step_id)
    number = session.scalar(
        select(Pipeline.build_number).where(Pipeline.id == deployment.pipeline_id)
    )
    return DeploymentOut(
        id=deployment.id,
        environment=env_name,
        status=deployment.status,
        kind=deployment.kind,
        commit=deployment.commit,
        pipeline=number or 0,
        step=step.name if step else "",
        step_key=step.step_key if step else "",
        stage=deployment.stage,
        triggered_by=deployment.triggered_by,
        reason=deployment.reason,
        source=deployment.source_id,
        stories=json.loads(deployment.stories or "[]"),
        queued_at=deployment.queued_at,
        started_at=deployment.started_at,
        finished_at=deployment.finished_at,
    )


def _environment_out(
    state: ServerState, session: Session, env: Environment, history: int = 0
) -> EnvironmentOut:
    current = state.deploys.current(session, env.id)
    waiting = waiting_deployments(session, env.id)
    past = recent_deployments(session, env.id, history)
    return EnvironmentOut(
        name=env.name,
        kind=env.kind,
        supersede=env.supersede,
        rolled_back_commit=env.rolled_back_commit,
        current=deployment_out(session, current, env.name) if current else None,
        waiting=[deployment_out(session, d, env.name) for d in waiting],
        history=[deployment_out(session, d, env.name) for d in past],
    )


@router.get("/repos/{repo}/environments")
def list_environments(repo: str, state: StateDep, _: Viewer) -> list[EnvironmentOut]:
    """Every environment in board order (test, staging, production): what it runs, what
    waits for it."""
    with state.db.session() as session:
        repository = find_repository(session, repo)
        environments = session.scalars(
            select(Environment)
            .where(Environment.repository_id == repository.id)
            .order_by(Environment.position, Environment.name)
        ).all()
        return [_environment_out(state, session, env) for env in environments]


@router.get("/repos/{repo}/environments/{name}")
def get_environment(
    repo: str, name: str, state: StateDep, _: Viewer, history: int = Query(20, ge=0, le=500)
) -> EnvironmentOut:
    with state.db.session() as session:
        env = find_environment(session, find_repository(session, repo), name)
        return _environment_out(state, session, env, history)


@router.put("/repos/{repo}/environments/{name}")
def put_environment(
    repo: str, name: str, body: EnvironmentChange, state: StateDep, _: Admin
) -> EnvironmentOut:
    """Create an environment ahead of its first deployment (to give it variables), or change
    whether a newer waiting deployment supersedes older ones."""
    with state.db.session() as session:
        env = environment(session, find_repository(session, repo).id, name)
        if body.supersede is not None:
            env.supersede = body.supersede
        session.flush()
        return _environment_out(state, session, env)


@router.get("/repos/{repo}/deployments/{deployment_id}")
def get_deployment(repo: str, deployment_id: int, state: StateDep, _: Viewer) -> DeploymentOut:
    with state.db.session() as session:
        repository = find_repository(session, repo)
        deployment = session.get(Deployment, deployment_id)
        if deployment is None or deployment.repository_id != repository.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no deployment #{deployment_id}")
        env = session.get(Environment, deployment.environment_id)
        found = deployment_out(session, deployment, env.name if env else "")
        pipeline = session.get(Pipeline, deployment.pipeline_id)
        step = session.get(Step, deployment.step_id)
        if pipeline is not None and step is not None:
            found.artifacts = _deployed_files(state, session, pipeline, step.step_key)
        return found


def _deployed_files(
    state: ServerState, session: Session, pipeline: Pipeline, step_key: str
) -> list[str]:
    """The kept files the deployment step restored (as the job service hands them out)."""
    files: list[str] = []
    for pipeline_id, key in state.jobs.artifacts_for(session, pipeline, step_key):
        store = state.jobs.artifact_dir(pipeline_id, key)
        number = session.scalar(select(Pipeline.build_number).where(Pipeline.id == pipeline_id))
        files += sorted(
            f"#{number}:{key}/{path.relative_to(store)}"
            for path in store.rglob("*")
            if path.is_file()
        )
    return files


@router.post("/repos/{repo}/environments/{name}/rollback", status_code=status.HTTP_202_ACCEPTED)
def rollback(
    repo: str, name: str, body: RollbackRequest, state: StateDep, caller: Deployer
) -> PipelineOut:
    """Deploy an earlier successful deployment again — its step, its original artifacts
    and variables. The commit rolled back from is then not deployed again by itself."""
    with state.db.session() as session:
        repository = find_repository(session, repo)
        env = find_environment(session, repository, name)
        try:
            target = rollback_target(session, env, body.to, state.deploys.current(session, env.id))
        except RedeployError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    try:
        _, number = start_redeploy(state, repository, target, caller.name, "rollback")
    except RedeployError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return pipeline_out(state, find_pipeline(state, repo, number), repo)


@router.post("/repos/{repo}/deployments/{deployment_id}/redeploy", status_code=202)
def redeploy(repo: str, deployment_id: int, state: StateDep, caller: Deployer) -> PipelineOut:
    """Run a successful deployment again as it ran (same commit, artifacts, variables)."""
    with state.db.session() as session:
        repository = find_repository(session, repo)
        target = session.get(Deployment, deployment_id)
        if target is None or target.repository_id != repository.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no deployment #{deployment_id}")
        if target.status != "passed":
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"deployment #{deployment_id} {target.status}: only a successful one",
            )
    try:
        _, number = start_redeploy(state, repository, target, caller.name, "redeploy")
    except RedeployError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return pipeline_out(state, find_pipeline(state, repo, number), repo)


@router.get("/repos/{repo}/compare")
def compare(
    repo: str,
    state: StateDep,
    _: Viewer,
    source: str = Query(..., alias="from", description="e.g. staging"),
    target: str = Query(..., alias="to", description="e.g. production"),
) -> Comparison:
    """The commits the `from` environment runs that the `to` environment does not: what
    production would gain from staging."""
    with state.db.session() as session:
        repository = find_repository(session, repo)
        ahead = state.deploys.current(session, find_environment(session, repository, source).id)
        behind = state.deploys.current(session, find_environment(session, repository, target).id)
    commits: list[CommitOut] = []
    if ahead is not None:
        span = f"{behind.commit}..{ahead.commit}" if behind is not None else ahead.commit
        limit = [] if behind is not None else ["-n", "50"]
        try:
            log = git(
                ["log", *limit, "--format=%H%x1f%an%x1f%aI%x1f%s", span], state.repo_dir(repo)
            )
        except GitError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        for line in log.splitlines():
            sha, author, date, subject = line.split("\x1f", 3)
            commits.append(CommitOut(sha=sha, author=author, date=dt.datetime.fromisoformat(date),
                                     subject=subject))  # fmt: skip
    return Comparison(
        source=source,
        target=target,
        source_commit=ahead.commit if ahead else None,
        target_commit=behind.commit if behind else None,
        commits=commits,
    )


# ---- deployment variables ------------------------------------------------------------------


def _variable_out(variable: object) -> VariableOut:
    return VariableOut(
        name=variable.name,  # type: ignore[attr-defined]
        secured=variable.secured,  # type: ignore[attr-defined]
        value=None if variable.secured else variable.value,  # type: ignore[attr-defined]
        updated_at=variable.updated_at,  # type: ignore[attr-defined]
    )


@router.get("/repos/{repo}/environments/{name}/variables")
def list_deployment_variables(
    repo: str, name: str, state: StateDep, _: Developer
) -> list[VariableOut]:
    with state.db.session() as session:
        env = find_environment(session, find_repository(session, repo), name)
        return [_variable_out(v) for v in state.variables.of_environment(session, env.id)]


@router.put("/repos/{repo}/environments/{name}/variables/{variable}")
def set_deployment_variable(
    repo: str, name: str, variable: str, body: VariableIn, state: StateDep, _: Admin
) -> VariableOut:
    """Set a variable of this environment; it overrides the repository's of that name."""
    with state.db.session() as session:
        env = environment(session, find_repository(session, repo).id, name)
        try:
            found = state.variables.set_for_environment(
                session, env.id, variable, body.value, body.secured
            )
        except VariableError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return _variable_out(found)


@router.delete(
    "/repos/{repo}/environments/{name}/variables/{variable}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_deployment_variable(
    repo: str, name: str, variable: str, state: StateDep, _: Admin
) -> Response:
    with state.db.session() as session:
        env = find_environment(session, find_repository(session, repo), name)
        if not state.variables.delete_for_environment(session, env.id, variable):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no variable '{variable}' in {name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- DORA ---------------------------------------------------------------------------------


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC datetimes back
    return value


def deployment_facts(session: Session, environment: Environment) -> list[DeploymentFact]:
    rows = session.scalars(
        select(Deployment).where(Deployment.environment_id == environment.id)
    ).all()
    facts = []
    for row in rows:
        delivered = tuple(
            CommitFact(sha, dt.datetime.fromisoformat(when))
            for sha, when in json.loads(row.delivered or "[]")
        )
        started = _aware(row.started_at) or _aware(row.queued_at)
        assert started is not None
        facts.append(
            DeploymentFact(
                id=row.id,
                environment=environment.name,
                commit=row.commit,
                started_at=started,
                finished_at=_aware(row.finished_at),
                status=row.status,
                kind=row.kind,
                delivered=() if row.kind == "rollback" else delivered,
            )
        )
    return facts


@router.get("/repos/{repo}/dora")
def dora(
    repo: str,
    state: StateDep,
    _: Viewer,
    environment: Annotated[
        str | None, Query(description="Default: the production environment.")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="Default: 30 days ago.")] = None,
    until: Annotated[dt.datetime | None, Query(description="Default: now.")] = None,
) -> dict[str, object]:
    """The four DORA keys from the deployment records: deployment frequency, lead time for
    changes (commit → running in the environment), change failure rate, time to restore."""
    end = _aware(until) or dt.datetime.now(dt.UTC)
    start = _aware(since) or end - dt.timedelta(days=30)
    with state.db.session() as session:
        repository = find_repository(session, repo)
        if environment is None:
            found = session.scalar(
                select(Environment)
                .where(Environment.repository_id == repository.id, Environment.kind == "production")
                .order_by(Environment.position)
                .limit(1)
            )
            if found is None:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND, f"{repo} has no production environment yet"
                )
        else:
            found = find_environment(session, repository, environment)
        facts = deployment_facts(session, found)
        name = found.name
    try:
        report = dora_report(facts, environment=name, since=start, until=end)
    except DoraError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return report.to_dict()
