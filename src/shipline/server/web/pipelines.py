"""Pipelines in the browser: the list with filters and paging, a pipeline's graph with live
status, its actions (run a manual step, stop, rerun), its artifacts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy import select

from shipline.errors import ShiplineError
from shipline.plan.event_codec import event_from_json
from shipline.server.lookups import find_repository
from shipline.server.orchestrator import ConflictError
from shipline.server.plans import CompiledPipeline
from shipline.server.state import ServerState, StateDep
from shipline.server.triggers import compile_at, record_pipeline
from shipline.server.web.graph import fingerprint, pipeline_graph
from shipline.server.web.queries import branches, pipeline_page, steps_of
from shipline.server.web.render import page, templates
from shipline.server.web.session import Csrf, WebUser
from shipline.store.models import Pipeline, Role, Step

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
STATUSES = ("passed", "failed", "running", "paused", "pending", "cancelled")
TRIGGERS = ("push", "webhook", "manual", "custom", "rerun", "rollback", "redeploy")


@router.get("/r/{repo}", response_class=HTMLResponse)
def pipelines(
    request: Request,
    repo: str,
    state: StateDep,
    caller: WebUser,
    branch: str = "",
    status_: str = "",
    trigger: str = "",
    before: int | None = None,
) -> HTMLResponse:
    status_ = request.query_params.get("status", status_)
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        rows = pipeline_page(
            session,
            repo_row.id,
            before=before,
            branch=branch or None,
            status_=status_ or None,
            trigger=trigger or None,
            limit=PAGE_SIZE + 1,
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        steps = steps_of(session, [r.id for r in rows])
        known_branches = branches(session, repo_row.id)
    return page(
        request,
        "pipelines.html",
        caller,
        repo=repo,
        rows=rows,
        steps=steps,
        branch=branch,
        status=status_,
        trigger=trigger,
        statuses=STATUSES,
        triggers=TRIGGERS,
        branches=known_branches,
        next_before=rows[-1].build_number if more and rows else None,
    )


def _load(state: ServerState, repo: str, number: int) -> tuple[Pipeline, list[Step]]:
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        pipeline = session.scalar(
            select(Pipeline).where(
                Pipeline.repository_id == repo_row.id, Pipeline.build_number == number
            )
        )
        if pipeline is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline {repo}#{number}")
        steps = list(
            session.scalars(
                select(Step).where(Step.pipeline_id == pipeline.id).order_by(Step.number)
            ).all()
        )
    return pipeline, steps


def _compiled(state: ServerState, pipeline: Pipeline) -> CompiledPipeline | None:
    try:
        return state.orchestrator.compile_pipeline(pipeline)
    except ShiplineError:
        return None  # the file vanished: the page still shows the recorded steps


def _graph_context(
    state: ServerState, repo: str, pipeline: Pipeline, steps: list[Step], caller: Any
) -> dict[str, Any]:
    compiled = _compiled(state, pipeline)
    rows = {s.step_key: s for s in steps}
    columns = pipeline_graph(compiled.plan, rows) if compiled else []
    return {
        "repo": repo,
        "pipeline": pipeline,
        "columns": columns,
        "steps": steps,
        "can_develop": caller.role.allows(Role.DEVELOPER),
        "can_deploy": caller.role.allows(Role.DEPLOYER),
    }


def _artifacts(
    state: ServerState, pipeline: Pipeline, steps: list[Step]
) -> list[tuple[Step, list[str]]]:
    found = []
    for step in steps:
        if step.artifact_count:
            store = state.jobs.artifact_dir(pipeline.id, step.step_key)
            files = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
            if files:
                found.append((step, files))
    return found


@router.get("/r/{repo}/p/{number}", response_class=HTMLResponse)
def pipeline_view(
    request: Request, repo: str, number: int, state: StateDep, caller: WebUser
) -> HTMLResponse:
    pipeline, steps = _load(state, repo, number)
    context = _graph_context(state, repo, pipeline, steps, caller)
    event = event_from_json(pipeline.event)
    variables = list(event.variables)
    return page(
        request,
        "pipeline.html",
        caller,
        **context,
        artifacts=_artifacts(state, pipeline, steps),
        variables=variables,
        flash=request.query_params.get("flash"),
    )


@router.get("/r/{repo}/p/{number}/graph", response_class=HTMLResponse)
def graph_fragment(
    request: Request, repo: str, number: int, state: StateDep, caller: WebUser
) -> HTMLResponse:
    pipeline, steps = _load(state, repo, number)
    context = _graph_context(state, repo, pipeline, steps, caller)
    return templates.TemplateResponse(
        request, "_graph.html", {**context, "csrf": request.session.get("csrf", "")}
    )


@router.get("/r/{repo}/p/{number}/events")
async def pipeline_events(
    request: Request, repo: str, number: int, state: StateDep, caller: WebUser
) -> StreamingResponse:
    """Server-Sent Events: the graph, re-rendered whenever a step's state changes."""
    csrf = request.session.get("csrf", "")

    async def events() -> AsyncIterator[str]:
        seen = ""
        quiet = 0
        while True:
            pipeline, steps = await asyncio.to_thread(_load, state, repo, number)
            mark = fingerprint(pipeline, steps)
            if mark != seen:
                seen, quiet = mark, 0
                context = _graph_context(state, repo, pipeline, steps, caller)
                html = templates.get_template("_graph.html").render({**context, "csrf": csrf})
                data = "\n".join(f"data: {line}" for line in html.splitlines())
                yield f"event: graph\n{data}\n\n"
                badge = (
                    f'<span class="badge s-{pipeline.status.replace(" ", "-")}" '
                    f'id="pipeline-status">{pipeline.status}</span>'
                )
                yield f"event: status\ndata: {badge}\n\n"
            else:
                quiet += 1
                if quiet % 15 == 0:
                    yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(1.0)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _back(repo: str, number: int, flash: str = "") -> RedirectResponse:
    target = f"/r/{repo}/p/{number}" + (f"?flash={flash}" if flash else "")
    return RedirectResponse(target, status_code=303)


def _need(caller: Any, role: Role, what: str) -> None:
    if not caller.role.allows(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{what} needs the {role.value} role")


@router.post("/r/{repo}/p/{number}/s/{key}/run", dependencies=[Csrf])
def run_step(
    repo: str, number: int, key: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    pipeline, _ = _load(state, repo, number)
    compiled = _compiled(state, pipeline)
    deploys = compiled is not None and compiled.plan.step(key).deployment is not None
    _need(caller, Role.DEPLOYER if deploys else Role.DEVELOPER, "running this step")
    try:
        state.orchestrator.run_manual_step(pipeline.id, key, caller.name)
    except ConflictError as exc:
        return _back(repo, number, str(exc))
    return _back(repo, number)


@router.post("/r/{repo}/p/{number}/cancel", dependencies=[Csrf])
def cancel(repo: str, number: int, state: StateDep, caller: WebUser) -> RedirectResponse:
    _need(caller, Role.DEVELOPER, "stopping a pipeline")
    pipeline, _ = _load(state, repo, number)
    state.orchestrator.request_stop(pipeline.id)
    return _back(repo, number)


@router.post("/r/{repo}/p/{number}/rerun", dependencies=[Csrf])
async def rerun(
    request: Request, repo: str, number: int, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _need(caller, Role.DEVELOPER, "rerunning a pipeline")
    whole = (await request.form()).get("all") == "1"
    pipeline, _ = _load(state, repo, number)
    if not whole:
        try:
            await asyncio.to_thread(state.orchestrator.rerun_failed, pipeline.id)
        except ConflictError as exc:
            return _back(repo, number, str(exc))
        return _back(repo, number)
    compiled = compile_at(state.repo_dir(repo), pipeline.commit, event_from_json(pipeline.event))
    if isinstance(compiled, str):
        return _back(repo, number, compiled)
    with state.db.session() as session:
        again = record_pipeline(
            session,
            find_repository(session, repo),
            compiled,
            commit=pipeline.commit,
            trigger="rerun",
            triggered_by=caller.name,
            rerun_of=number,
        )
        again_id, again_number = again.id, again.build_number
    await asyncio.to_thread(state.orchestrator.advance, again_id)
    return _back(repo, again_number)


@router.get("/r/{repo}/p/{number}/s/{key}/artifacts/{path:path}")
def artifact(
    repo: str, number: int, key: str, path: str, state: StateDep, caller: WebUser
) -> FileResponse:
    pipeline, _ = _load(state, repo, number)
    store = state.jobs.artifact_dir(pipeline.id, key).resolve()
    target = (store / path).resolve()
    if not target.is_relative_to(store) or not target.is_file():  # never outside the store
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such artifact")
    return FileResponse(target, filename=Path(path).name)
