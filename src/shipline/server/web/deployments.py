"""The deployments board: one column per environment — what it runs, what waits for it, its
history — with promote and rollback for deployers, and what production would gain."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipline.errors import GitError, ShiplineError
from shipline.run.git import git
from shipline.server.deploys import recent_deployments, waiting_deployments
from shipline.server.lookups import find_environment, find_repository
from shipline.server.redeploys import RedeployError, rollback_target, start_redeploy
from shipline.server.state import ServerState, StateDep
from shipline.server.web.render import page
from shipline.server.web.session import Csrf, WebUser
from shipline.store.models import Deployment, Environment, Pipeline, Role, Step

router = APIRouter(include_in_schema=False)


@dataclass
class Shown:
    """A deployment as the board shows it."""

    id: int
    status: str
    kind: str
    commit: str
    subject: str
    pipeline: int
    triggered_by: str
    when: Any
    reason: str
    stories: list[dict[str, Any]]


@dataclass
class Column:
    environment: Environment
    current: Shown | None
    waiting: list[Shown]
    history: list[Shown]
    promotable: tuple[int, str, str] | None  # (pipeline number, step key, step name)
    rollback_to: str | None  # the commit a rollback would go back to; None: nothing to


def _rollback_commit(session: Session, env: Environment, current: Deployment | None) -> str | None:
    """What "Roll back" would deploy, so the button is offered only when there is one."""
    try:
        return rollback_target(session, env, None, current).commit
    except RedeployError:
        return None


def _subject(state: ServerState, repo: str, commit: str) -> str:
    try:
        return git(["log", "-1", "--format=%s", commit], state.repo_dir(repo)).strip()
    except GitError:
        return ""


def _shown(state: ServerState, session: Session, repo: str, d: Deployment) -> Shown:
    number = session.scalar(select(Pipeline.build_number).where(Pipeline.id == d.pipeline_id))
    return Shown(
        id=d.id,
        status=d.status,
        kind=d.kind,
        commit=d.commit,
        subject=_subject(state, repo, d.commit),
        pipeline=number or 0,
        triggered_by=d.triggered_by,
        when=d.finished_at or d.started_at or d.queued_at,
        reason=d.reason,
        stories=json.loads(d.stories or "[]"),
    )


def _promotable(
    state: ServerState, session: Session, repository_id: int, env: Environment
) -> tuple[int, str, str] | None:
    """The newest pipeline paused at a deployment step to this environment."""
    paused = session.execute(
        select(Pipeline.build_number, Step.step_key, Step.name, Pipeline.id)
        .join(Step, Step.pipeline_id == Pipeline.id)
        .where(
            Pipeline.repository_id == repository_id,
            Pipeline.status == "paused",
            Step.status == "paused",
        )
        .order_by(Pipeline.build_number.desc())
        .limit(20)
    ).all()
    for number, key, name, pipeline_id in paused:
        pipeline = session.get(Pipeline, pipeline_id)
        try:
            spec = state.orchestrator.compile_pipeline(pipeline).plan.step(key)  # type: ignore[arg-type]
        except (ShiplineError, KeyError):
            continue
        if spec.deployment == env.name:
            return number, key, name
    return None


def _commits_between(
    state: ServerState, repo: str, ahead: str, behind: str
) -> list[tuple[str, str, str]]:
    try:
        log = git(["log", "--format=%H%x1f%an%x1f%s", f"{behind}..{ahead}"], state.repo_dir(repo))
    except GitError:
        return []
    commits = []
    for line in log.splitlines()[:50]:
        sha, author, subject = line.split("\x1f", 2)
        commits.append((sha, author, subject))
    return commits


@router.get("/r/{repo}/deployments", response_class=HTMLResponse)
def board(request: Request, repo: str, state: StateDep, caller: WebUser) -> HTMLResponse:
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        environments = session.scalars(
            select(Environment)
            .where(Environment.repository_id == repo_row.id)
            .order_by(Environment.position, Environment.name)
        ).all()
        columns = []
        for env in environments:
            current = state.deploys.current(session, env.id)
            waiting = waiting_deployments(session, env.id)
            history = recent_deployments(session, env.id, 8)
            columns.append(
                Column(
                    env,
                    _shown(state, session, repo, current) if current else None,
                    [_shown(state, session, repo, d) for d in waiting],
                    [_shown(state, session, repo, d) for d in history],
                    _promotable(state, session, repo_row.id, env),
                    _rollback_commit(session, env, current),
                )
            )
    gains = []
    for before, after in itertools.pairwise(columns):
        if before.current and after.current and before.current.commit != after.current.commit:
            commits = _commits_between(state, repo, before.current.commit, after.current.commit)
            gains.append((before.environment.name, after.environment.name, commits))
    return page(
        request,
        "deployments.html",
        caller,
        repo=repo,
        columns=columns,
        gains=gains,
        tab="deployments",
        flash=request.query_params.get("flash"),
    )


@router.post("/r/{repo}/environments/{name}/rollback", dependencies=[Csrf])
def rollback(repo: str, name: str, state: StateDep, caller: WebUser) -> RedirectResponse:
    if not caller.role.allows(Role.DEPLOYER):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "rolling back needs the deployer role")
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        env = find_environment(session, repo_row, name)
        try:
            target = rollback_target(session, env, None, state.deploys.current(session, env.id))
        except RedeployError as exc:
            return RedirectResponse(f"/r/{repo}/deployments?flash={exc}", status_code=303)
    try:
        _, number = start_redeploy(state, repo_row, target, caller.name, "rollback")
    except RedeployError as exc:
        return RedirectResponse(f"/r/{repo}/deployments?flash={exc}", status_code=303)
    return RedirectResponse(f"/r/{repo}/p/{number}", status_code=303)
