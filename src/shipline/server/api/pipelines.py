"""Pipelines: recorded from pushes (internal hook route), listed, read, with step logs."""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shipline.server.api.schemas import PipelineOut, StepOut
from shipline.server.auth import Developer, Viewer
from shipline.server.state import ServerState, StateDep
from shipline.server.triggers import RefUpdate, record_push
from shipline.store.models import Pipeline, Repository

router = APIRouter(prefix="/api/v1")


class PushReport(BaseModel):
    repo: str
    updates: list[dict[str, str]]


@router.post("/internal/push", include_in_schema=False)
def pushed(body: PushReport, request: Request, state: StateDep) -> PlainTextResponse:
    """Called by the post-receive hook; answers the lines the pusher sees."""
    secret = request.headers.get("x-shipline-hook", "")
    if not hmac.compare_digest(secret, state.hook_secret):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not from this server's hook")
    lines: list[str] = []
    started: list[int] = []
    with state.db.session() as session:
        repository = session.scalar(select(Repository).where(Repository.name == body.repo))
        if repository is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no repository '{body.repo}'")
        repo_dir = state.settings.repos_dir / f"{body.repo}.git"
        for item in body.updates:
            update = RefUpdate(item["old"], item["new"], item["ref"])
            result = record_push(session, repository, repo_dir, update, state.settings.url)
            lines.append(result.message)
            if result.pipeline_id is not None:
                started.append(result.pipeline_id)
    if state.workers is not None:  # after the commit: the worker must find the rows
        for pipeline_id in started:
            state.workers.submit(pipeline_id)
    return PlainTextResponse("".join(f"shipline: {line}\n" for line in lines))


def _pipeline(state: ServerState, repo: str, number: int) -> Pipeline:
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


def _out(pipeline: Pipeline, repo: str) -> PipelineOut:
    return PipelineOut(
        repo=repo,
        number=pipeline.build_number,
        status=pipeline.status,
        trigger=pipeline.trigger,
        ref_type=pipeline.ref_type,
        ref_name=pipeline.ref_name,
        commit=pipeline.commit,
        pipeline=pipeline.pipeline_key,
        reason=pipeline.reason,
        created_at=pipeline.created_at,
        started_at=pipeline.started_at,
        finished_at=pipeline.finished_at,
        steps=[
            StepOut(
                key=s.step_key,
                number=s.number,
                name=s.name,
                status=s.status,
                reason=s.reason,
                exit_code=s.exit_code,
                started_at=s.started_at,
                finished_at=s.finished_at,
            )
            for s in pipeline.steps
        ],
    )


@router.get("/repos/{repo}/pipelines", tags=["pipelines"])
def list_pipelines(repo: str, state: StateDep, _: Viewer, limit: int = 50) -> list[PipelineOut]:
    """Newest first."""
    with state.db.session() as session:
        found = session.scalars(
            select(Pipeline)
            .join(Repository)
            .where(Repository.name == repo)
            .order_by(Pipeline.build_number.desc())
            .limit(max(1, min(limit, 200)))
            .options(selectinload(Pipeline.steps))
        ).all()
        return [_out(p, repo) for p in found]


@router.get("/repos/{repo}/pipelines/{number}", tags=["pipelines"])
def get_pipeline(repo: str, number: int, state: StateDep, _: Viewer) -> PipelineOut:
    return _out(_pipeline(state, repo, number), repo)


@router.post(
    "/repos/{repo}/pipelines/{number}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["pipelines"],
)
def cancel_pipeline(repo: str, number: int, state: StateDep, _: Developer) -> PipelineOut:
    """Stop a pending or running pipeline: running steps are killed, the rest never start."""
    pipeline = _pipeline(state, repo, number)
    if state.workers is None or not state.workers.cancel(pipeline.id):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{repo}#{number} has already finished ({pipeline.status})"
        )
    return _out(_pipeline(state, repo, number), repo)


@router.get("/repos/{repo}/pipelines/{number}/steps/{key}/log", tags=["pipelines"])
def step_log(repo: str, number: int, key: str, state: StateDep, _: Viewer) -> FileResponse:
    """The step's whole log, as the step wrote it."""
    pipeline = _pipeline(state, repo, number)
    step = next((s for s in pipeline.steps if s.step_key == key), None)
    if step is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no step {key} in {repo}#{number}")
    log_dir = state.settings.data_dir / "runs" / str(pipeline.id) / "logs"
    matches = sorted(log_dir.glob(f"{step.number:02d}-*.log")) if log_dir.is_dir() else []
    logs = [p for p in matches if ".service-" not in p.name]
    if not logs:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this step has no log yet")
    return FileResponse(Path(logs[0]), media_type="text/plain; charset=utf-8")
