"""Step logs over HTTP: the whole raw log, its tail, and a live stream (Server-Sent Events).

The stream sends `log` events whose `data` is JSON `{"offset": N, "text": "..."}` (text cut
at UTF-8 character boundaries, `offset` the byte offset after it) with `id: N`, so a client
that reconnects with `Last-Event-ID` (or `?offset=N`) continues exactly where it stopped;
an `end` event `{"status": ..., "offset": N}` closes it once the step attempt is over.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
DOWNLOAD_BYTES = 1024 * 1024
KEEPALIVE_SECONDS = 15.0
NOT_STARTED = frozenset({"pending", "queued", "paused"})
GROWING = NOT_STARTED | {"running"}  # a log that may still be written to
TEXT = "text/plain; charset=utf-8"


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
    if log_key.attempt < step.attempt or step.status not in GROWING:
        whole = FileResponse(path, media_type=TEXT)
        whole.chunk_size = DOWNLOAD_BYTES  # 64 KiB by default: 16 times the thread hops
        return whole
    return _snapshot(path)


def _snapshot(path: Path) -> Response:
    """The log as far as it is written now. A running step's log grows while it is sent, and
    a response must hold exactly the bytes its Content-Length announced (FileResponse reads
    to the end of the file, and the server then breaks the connection off)."""
    size = path.stat().st_size  # append-only: these bytes stay as they are

    def body() -> Iterator[bytes]:  # iterated in a worker thread
        left = size
        with open(path, "rb") as log:
            while left > 0 and (chunk := log.read(min(DOWNLOAD_BYTES, left))):
                left -= len(chunk)
                yield chunk

    return StreamingResponse(body(), media_type=TEXT, headers={"Content-Length": str(size)})


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


# Bytes that stand for themselves in a JSON string, and the few escaped ones logs are full
# of; any other byte (non-ASCII, other control characters) takes the json.dumps way.
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r\x1b"
_ESCAPES = ((b"\\", b"\\\\"), (b'"', b'\\"'), (b"\n", b"\\n"), (b"\r", b"\\r"),
            (b"\t", b"\\t"), (b"\x1b", b"\\u001b"))  # fmt: skip
_LINE_BREAKS = ("\x85", "\u2028", "\u2029")  # the others are control characters, escaped


def json_string(data: bytes) -> bytes:
    """`data` decoded (broken characters replaced) as a JSON string, in UTF-8. About five
    times faster than json.dumps for ASCII text with line breaks, tabs and colour codes (a
    256 KiB event: 0.3 ms, not 1.5-1.9): the server encodes every event of every stream."""
    if data.translate(None, _PLAIN):
        text = data.decode("utf-8", errors="replace")
        if data.isascii():
            return json.dumps(text).encode()
        # Raw UTF-8 is 3x faster than \\u escapes; but the characters that Python's
        # splitlines (and so httpx's iter_lines) takes for line breaks must stay escaped.
        encoded = json.dumps(text, ensure_ascii=False)
        for breaking in _LINE_BREAKS:
            encoded = encoded.replace(breaking, f"\\u{ord(breaking):04x}")
        return encoded.encode()
    for plain, escaped in _ESCAPES:
        data = data.replace(plain, escaped)
    return b'"' + data + b'"'


def _log_event(data: bytes, offset: int) -> bytes:
    """The `log` event for `data`, which ends at byte `offset` of the log."""
    return b'id: %d\nevent: log\ndata: {"offset": %d, "text": %s}\n\n' % (
        offset,
        offset,
        json_string(data),
    )


def _next_log_event(state: ServerState, key: LogKey, position: int) -> tuple[bytes, int]:
    """The event for the whole characters written from `position` on (b"" when there are
    none yet), and the position after them."""
    data = state.logs.read(key, position, READ_BYTES)
    cut = utf8_cut(data)
    if not cut:
        return b"", position
    return _log_event(data[:cut], position + cut), position + cut


def _attempt_over(state: ServerState, step_id: int, attempt: int) -> str | None:
    """The step's status once this attempt of it is over; None while it may still write."""
    with state.db.session() as session:
        row = session.execute(select(Step.status, Step.attempt).where(Step.id == step_id)).one()
    if row.attempt > attempt:
        return "replaced"
    if row.status in GROWING:
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

    async def events() -> AsyncIterator[bytes]:
        position = start
        wake = state.logs.broker.subscribe(log_key)
        try:
            yield b"retry: 2000\n\n"
            while True:
                wake.clear()
                # Read and encode off the event loop: other requests go on being served.
                event, position = await asyncio.to_thread(_next_log_event, state, log_key, position)
                if event:
                    yield event
                    continue
                over = await asyncio.to_thread(_attempt_over, state, step.id, log_key.attempt)
                if over is not None:
                    rest = await asyncio.to_thread(state.logs.read, log_key, position, READ_BYTES)
                    if utf8_cut(rest):
                        continue  # written just before the end: send it first
                    if rest:  # a broken character at the very end
                        position += len(rest)
                        yield _log_event(rest, position)
                    yield _sse("end", {"status": over, "offset": position}).encode()
                    return
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
        finally:
            state.logs.broker.unsubscribe(log_key, wake)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
