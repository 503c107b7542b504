"""Pipelines: recorded from pushes (internal hook route) or by hand; listed, read, stopped,
rerun; manual steps run."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shipline.errors import GitError
from shipline.plan import Event
from shipline.plan.event_codec import event_from_json
from shipline.run.git import git
from shipline.server.api.schemas import PipelineOut, RerunRequest, StepOut, TriggerRequest
from shipline.server.auth import Developer, Viewer
from shipline.server.lookups import find_repository
from shipline.server.orchestrator import ConflictError
from shipline.server.plans import CompiledPipeline
from shipline.server.state import ServerState, StateDep
from shipline.server.triggers import RefUpdate, compile_at, record_pipeline, record_push
from shipline.store.models import Pipeline, Repository, Role, Step

router = APIRouter(prefix="/api/v1")


@router.post("/internal/push", include_in_schema=False)
async def pushed(request: Request, state: StateDep) -> PlainTextResponse:
    """Called by the post-receive hook with git's `OLD NEW REF` lines; answers the lines
    the pusher sees."""
    secret = request.headers.get("x-shipline-hook", "")
    if not hmac.compare_digest(secret, state.hook_secret):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not from this server's hook")
    updates = [
        RefUpdate(*line.split())
        for line in (await request.body()).decode(errors="replace").splitlines()
        if len(line.split()) == 3
    ]
    repo = request.headers.get("x-shipline-repo", "")
    pusher = request.headers.get("x-shipline-pusher", "")
    return await asyncio.to_thread(_record_pushes, state, repo, pusher, updates)


def _record_pushes(
    state: ServerState, repo: str, pusher: str, updates: list[RefUpdate]
) -> PlainTextResponse:
    lines: list[str] = []
    started: list[tuple[int, CompiledPipeline]] = []
    with state.db.session() as session:
        repository = find_repository(session, repo)
        repo_dir = state.repo_dir(repo)
        for update in updates:
            result = record_push(
                session, repository, repo_dir, update, state.settings.url, triggered_by=pusher
            )
            lines.append(result.message)
            if result.pipeline_id is not None and result.compiled is not None:
                started.append((result.pipeline_id, result.compiled))
    # After the commit (an id of a rolled-back row may come again): the orchestrator reads
    # the rows afresh, with the plans compiled for them already.
    for pipeline_id, compiled in started:
        state.orchestrator.plans.put(pipeline_id, compiled)
    state.orchestrator.advance_all(pipeline_id for pipeline_id, _ in started)
    return PlainTextResponse("".join(f"shipline: {line}\n" for line in lines))


def find_pipeline(state: ServerState, repo: str, number: int) -> Pipeline:
    with state.db.session() as session:
        found = session.scalar(
            select(Pipeline)
            .join(Repository)
            .where(Repository.name == repo, Pipeline.build_number == number)
            .options(selectinload(Pipeline.steps))
        )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {repo}#{number}")
    return found


def pipeline_out(
    state: ServerState, pipeline: Any, repo: str, steps: Sequence[Any] | None = None
) -> PipelineOut:
    """`pipeline` and `steps`: ORM objects or plain rows with the same column names.

    Built with model_construct: the values come from our own rows, and validating 300 of
    them per page was most of the list call's time.
    """
    return PipelineOut.model_construct(
        repo=repo,
        number=pipeline.build_number,
        status=pipeline.status,
        trigger=pipeline.trigger,
        triggered_by=pipeline.triggered_by,
        ref_type=pipeline.ref_type,
        ref_name=pipeline.ref_name,
        commit=pipeline.commit,
        pipeline=pipeline.pipeline_key,
        reason=pipeline.reason,
        stop_requested=pipeline.stop_requested,
        rerun_of=pipeline.rerun_of,
        created_at=pipeline.created_at,
        started_at=pipeline.started_at,
        finished_at=pipeline.finished_at,
        url=f"{state.settings.url}/api/v1/repos/{repo}/pipelines/{pipeline.build_number}",
        steps=[
            StepOut.model_construct(
                key=s.step_key,
                number=s.number,
                name=s.name,
                status=s.status,
                reason=s.reason,
                exit_code=s.exit_code,
                attempt=s.attempt,
                queued_at=s.queued_at,
                started_at=s.started_at,
                finished_at=s.finished_at,
                approved_by=s.approved_by,
                approved_at=s.approved_at,
                artifact_count=s.artifact_count,
            )
            for s in (pipeline.steps if steps is None else steps)
        ],
    )


@router.get("/repos/{repo}/pipelines", tags=["pipelines"])
def list_pipelines(
    repo: str,
    state: StateDep,
    _: Viewer,
    limit: int = Query(50, ge=1, le=200),
    before: int | None = Query(None, description="Only pipelines numbered below this (paging)."),
    branch: str | None = None,
    status_: str | None = Query(None, alias="status"),
    trigger: str | None = None,
) -> list[PipelineOut]:
    """Newest first; page with `before` = the last number of the previous page."""
    pipelines, steps = Pipeline.__table__, Step.__table__
    with state.db.session() as session:
        repository = find_repository(session, repo)
        # Plain rows, not ORM objects: a page of 50 pipelines is 300 rows to turn into JSON.
        query = select(pipelines).where(pipelines.c.repository_id == repository.id)
        if before is not None:
            query = query.where(pipelines.c.build_number < before)
        if branch is not None:
            query = query.where(pipelines.c.ref_name == branch)
        if status_ is not None:
            query = query.where(pipelines.c.status == status_)
        if trigger is not None:
            query = query.where(pipelines.c.trigger == trigger)
        found = session.execute(query.order_by(pipelines.c.build_number.desc()).limit(limit)).all()
        by_pipeline: dict[int, list[Any]] = {row.id: [] for row in found}
        if by_pipeline:
            for step in session.execute(
                select(steps)
                .where(steps.c.pipeline_id.in_(list(by_pipeline)))
                .order_by(steps.c.pipeline_id, steps.c.number)
            ):
                by_pipeline[step.pipeline_id].append(step)
    return [pipeline_out(state, row, repo, by_pipeline[row.id]) for row in found]


@router.post("/repos/{repo}/pipelines", status_code=status.HTTP_201_CREATED, tags=["pipelines"])
def trigger_pipeline(
    repo: str, body: TriggerRequest, state: StateDep, caller: Developer
) -> PipelineOut:
    """Run the pipeline of a branch or tag by hand, or a custom pipeline with variables."""
    if (body.branch is None) == (body.tag is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give a branch or a tag")
    repo_dir = state.repo_dir(repo)
    ref = f"refs/heads/{body.branch}" if body.branch else f"refs/tags/{body.tag}"
    with state.db.session() as session:
        repository = find_repository(session, repo)
        try:
            commit = git(["rev-parse", "--verify", f"{body.commit or ref}^{{commit}}"], repo_dir)
            message = git(["log", "-1", "--format=%B", commit.strip()], repo_dir)
        except GitError as exc:
            what = body.commit or ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no commit '{what}' in {repo}") from exc
        commit = commit.strip()
        event = Event(
            branch=body.branch,
            tag=body.tag,
            custom=body.custom,
            variables=tuple(body.variables.items()),
            commit_message=message,
        )
        compiled = compile_at(repo_dir, commit, event)
        if isinstance(compiled, str):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, compiled)
        pipeline = record_pipeline(
            session, repository, compiled, commit=commit,
            trigger="custom" if body.custom else "manual", triggered_by=caller.name,
        )  # fmt: skip
        pipeline_id, number = pipeline.id, pipeline.build_number
    state.orchestrator.advance(pipeline_id)
    return pipeline_out(state, find_pipeline(state, repo, number), repo)


@router.get("/repos/{repo}/pipelines/{number}", tags=["pipelines"])
def get_pipeline(repo: str, number: int, state: StateDep, _: Viewer) -> PipelineOut:
    return pipeline_out(state, find_pipeline(state, repo, number), repo)


@router.post(
    "/repos/{repo}/pipelines/{number}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["pipelines"],
)
def cancel_pipeline(repo: str, number: int, state: StateDep, _: Developer) -> PipelineOut:
    """Stop a pipeline: running steps are killed, the rest never start."""
    pipeline = find_pipeline(state, repo, number)
    if not state.orchestrator.request_stop(pipeline.id):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{repo}#{number} has already finished ({pipeline.status})"
        )
    return pipeline_out(state, find_pipeline(state, repo, number), repo)


@router.post(
    "/repos/{repo}/pipelines/{number}/rerun",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["pipelines"],
)
def rerun_pipeline(
    repo: str, number: int, body: RerunRequest, state: StateDep, caller: Developer
) -> PipelineOut:
    """Rerun the failed steps of this pipeline, or (`all`) the whole pipeline as a new one."""
    pipeline = find_pipeline(state, repo, number)
    if not body.all:
        try:
            state.orchestrator.rerun_failed(pipeline.id)
        except ConflictError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return pipeline_out(state, find_pipeline(state, repo, number), repo)
    event = event_from_json(pipeline.event)
    compiled = compile_at(state.repo_dir(repo), pipeline.commit, event)
    if isinstance(compiled, str):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, compiled)
    with state.db.session() as session:
        again = record_pipeline(
            session, find_repository(session, repo), compiled, commit=pipeline.commit,
            trigger="rerun", triggered_by=caller.name, rerun_of=number,
        )  # fmt: skip
        again_id, again_number = again.id, again.build_number
    state.orchestrator.advance(again_id)
    return pipeline_out(state, find_pipeline(state, repo, again_number), repo)


@router.post(
    "/repos/{repo}/pipelines/{number}/steps/{key}/run",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["pipelines"],
)
def run_manual_step(
    repo: str, number: int, key: str, state: StateDep, caller: Developer
) -> PipelineOut:
    """Run the manual step the pipeline is paused at (Bitbucket's "Run" on a paused step).

    A deployment step needs the deployer role: promotion is someone's deliberate decision.
    """
    pipeline = find_pipeline(state, repo, number)
    if not any(s.step_key == key for s in pipeline.steps):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no step {key} in {repo}#{number}")
    environment = state.orchestrator.compile_pipeline(pipeline).plan.step(key).deployment
    if environment is not None and not caller.role.allows(Role.DEPLOYER):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"deploying to {environment} needs the deployer role; you are {caller.role.value}",
        )
    try:
        state.orchestrator.run_manual_step(pipeline.id, key, caller.name)
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return pipeline_out(state, find_pipeline(state, repo, number), repo)
