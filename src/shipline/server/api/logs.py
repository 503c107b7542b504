"""Step logs over HTTP: the whole raw log, its tail, and a live stream (Server-Sent Events).

The stream sends `log` events whose `data` is JSON `{"offset": N, "text": "..."}` (text cut
at UTF-8 character boundaries, `offset` the byte offset after it) with `id: N`, so a client
that reconnects with `Last-Event-ID` (or `?offset=N`) continues exactly where it stopped;
an `end` event `{"status": ..., "offset": N}` closes it once the step attempt is over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from sqlalchemy import select

from shipline.server.api.pipelines import find_pipeline
from shipline.server.auth import Viewer
from shipline.server.logs import LogKey
from shipline.server.state import ServerState, StateDep
from shipline.store.models import Step

router = APIRouter(prefix="/api/v1")
READ_BYTES = 256 * 1024
KEEPALIVE_SECONDS = 15.0
NOT_STARTED = frozenset({"pending", "queued", "paused"})


def _step(state: ServerState, repo: str, number: int, key: str) -> Step:
    pipeline = find_pipeline(state, repo, number)
    step = next((s for s in pipeline.steps if s.step_key == key), None)
    if step is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no step {key} in {repo}#{number}")
    return step


@router.get(
    "/repos/{repo}/pipelines/{number}/steps/{key}/log",
    tags=["logs"],
    response_class=PlainTextResponse,
)
def step_log(
    repo: str,
    number: int,
    key: str,
    state: StateDep,
    _: Viewer,
    attempt: int | None = Query(None, description="Default: the newest attempt."),
    tail: int | None = Query(None, ge=0, description="Only the last N lines."),
) -> Response:
    """The step's log as the step wrote it (secured variables masked)."""
    step = _step(state, repo, number, key)
    log_key = LogKey(step.pipeline_id, key, attempt or step.attempt)
    path = state.logs.path(log_key)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"this step has no log yet ({step.status})")
    if tail is not None:
        return PlainTextResponse(state.logs.tail(log_key, tail))
    return FileResponse(path, media_type="text/plain; charset=utf-8")


def utf8_cut(data: bytes) -> int:
    """The length of the longest prefix of `data` that ends on a character boundary."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its character complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)


def _sse(event: str, data: dict[str, object], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


def _attempt_over(state: ServerState, step_id: int, attempt: int) -> str | None:
    """The step's status once this attempt of it is over; None while it may still write."""
    with state.db.session() as session:
        row = session.execute(select(Step.status, Step.attempt).where(Step.id == step_id)).one()
    if row.attempt > attempt:
        return "replaced"
    if row.status in NOT_STARTED or row.status == "running":
        return None
    return str(row.status)


@router.get("/repos/{repo}/pipelines/{number}/steps/{key}/log/stream", tags=["logs"])
def stream_log(
    repo: str,
    number: int,
    key: str,
    request: Request,
    state: StateDep,
    _: Viewer,
    attempt: int | None = None,
    offset: int = Query(0, ge=0, description="Start at this byte (or send Last-Event-ID)."),
) -> StreamingResponse:
    """The step's log live, as Server-Sent Events, from `offset` to the end of the step."""
    step = _step(state, repo, number, key)
    log_key = LogKey(step.pipeline_id, key, attempt or step.attempt)
    resume = request.headers.get("last-event-id", "")
    start = int(resume) if resume.isdigit() else offset

    async def events() -> AsyncIterator[str]:
        position = start
        wake = state.logs.broker.subscribe(log_key)
        try:
            yield "retry: 2000\n\n"
            while True:
                wake.clear()
                data = await asyncio.to_thread(state.logs.read, log_key, position, READ_BYTES)
                cut = utf8_cut(data)
                if cut:
                    position += cut
                    text = data[:cut].decode("utf-8", errors="replace")
                    yield _sse("log", {"offset": position, "text": text}, position)
                    continue
                over = await asyncio.to_thread(_attempt_over, state, step.id, log_key.attempt)
                if over is not None:
                    rest = await asyncio.to_thread(state.logs.read, log_key, position, READ_BYTES)
                    if utf8_cut(rest):
                        continue  # written just before the end: send it first
                    if rest:  # a broken character at the very end
                        position += len(rest)
                        text = rest.decode("utf-8", errors="replace")
                        yield _sse("log", {"offset": position, "text": text}, position)
                    yield _sse("end", {"status": over, "offset": position})
                    return
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            state.logs.broker.unsubscribe(log_key, wake)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
