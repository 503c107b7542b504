"""The log viewer of a step: the page, and the JSON its script reads lines and matches from.

The page holds only what is on screen: `static/logview.js` asks `/lines` for ranges of lines
as the reader scrolls, already rendered to safe HTML by `web.ansi`, and follows a running
step through the log's Server-Sent Events stream (the API's, read with the session cookie).
Lines are counted from 1 here, as the reader sees them (`#L42`); `web.logindex` counts
from 0.

Colours carry across lines, also into a range read on its own: the style in effect at each
checkpoint of the line index is worked out once (parsing only what follows the last full
reset before it) and kept beside the index.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select

from shipline.server.api.logs import GROWING
from shipline.server.logs import LogKey
from shipline.server.state import ServerState, StateDep
from shipline.server.web.ansi import (
    DEFAULT,
    Style,
    advance,
    advance_blocks,
    render_line,
    strip_escapes,
)
from shipline.server.web.logindex import BLOCK, LineIndex, index_for
from shipline.server.web.render import page
from shipline.server.web.session import WebUser
from shipline.store.models import Pipeline, Repository, Step

router = APIRouter(include_in_schema=False)

MAX_COUNT = 2000  # lines per /lines answer
MAX_LINE_BYTES = 64 * 1024  # of a longer line the page shows this much; the raw log has all
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # a range of long lines comes back shorter than asked
MAX_MATCHES = 5000
FIRST_LINES = 200  # rendered into the page itself: no request before the first lines show
SECTION = b"+ "  # Shipline echoes each script command as "+ COMMAND"


def _find(state: ServerState, repo: str, number: int, key: str) -> tuple[Pipeline, Step]:
    with state.db.session() as session:
        found = session.execute(
            select(Pipeline, Step)
            .join(Repository, Repository.id == Pipeline.repository_id)
            .join(Step, Step.pipeline_id == Pipeline.id)
            .where(Repository.name == repo, Pipeline.build_number == number, Step.step_key == key)
        ).first()
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no step {key} in {repo}#{number}")
        pipeline, step = found
        session.expunge_all()  # detached before the commit: they keep what was loaded
    return pipeline, step


def _attempt(step: Step, attempt: int | None) -> int:
    chosen = attempt or step.attempt
    if not 1 <= chosen <= step.attempt:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"step {step.step_key} has no attempt {chosen}"
        )
    return chosen


def _index(state: ServerState, repo: str, number: int, key: str,
           attempt: int | None) -> tuple[Pipeline, Step, int, LineIndex]:  # fmt: skip
    pipeline, step = _find(state, repo, number, key)
    chosen = _attempt(step, attempt)
    path = state.logs.path(LogKey(step.pipeline_id, key, chosen))
    return pipeline, step, chosen, index_for(path)


# ---- the style at each checkpoint --------------------------------------------------------

# Per log: the index the styles were worked out with (a log replaced under the same path gets
# a new index or a new generation), and the style at each of its checkpoints so far.
_styles: OrderedDict[Path, tuple[LineIndex, int, list[Style]]] = OrderedDict()
_styles_lock = threading.Lock()


def _blocks(log: BinaryIO, begin: int, end: int) -> Iterator[bytes]:
    log.seek(begin)
    while begin < end and (block := log.read(min(BLOCK, end - begin))):
        begin += len(block)
        yield block


def _style_at(index: LineIndex, j: int) -> Style:
    """The style in effect where checkpoint `j` of `index` starts."""
    with _styles_lock:  # one reader works a log's styles out; the others then find them
        owner, generation, known = _styles.get(index.path, (index, index.generation, [DEFAULT]))
        if owner is not index or generation != index.generation:
            known = [DEFAULT]
        if j >= len(known):
            with open(index.path, "rb") as log:
                for k in range(len(known), j + 1):
                    begin, end = index.checkpoint(k - 1), index.checkpoint(k)
                    known.append(advance_blocks(known[-1], _blocks(log, begin, end)))
        _styles[index.path] = (index, index.generation, known)
        _styles.move_to_end(index.path)
        if len(_styles) > 64:
            _styles.popitem(last=False)
        return known[j]


def _render(index: LineIndex, first: int, count: int) -> tuple[list[str], list[int]]:
    """Lines `first`.. (counted from 1) as HTML, and which of them begin a command section."""
    start = first - 1
    j = min(start // index.every, index.checkpoints - 1)
    style = _style_at(index, j)
    lines: list[str] = []
    sections: list[int] = []
    spent = 0
    for n, (data, length) in enumerate(index.iter_lines(j * index.every, MAX_LINE_BYTES)):
        number = j * index.every + n + 1
        if number < first:  # between the checkpoint and the range: only their colours count
            style = advance(style, data)
            continue
        html, style = render_line(data.decode("utf-8", errors="replace"), style)
        if length > len(data):
            html += f'<span class="lv-cut"> … {length - len(data)} more bytes in the raw log</span>'
        lines.append(html)
        if data.startswith(SECTION):
            sections.append(number)
        spent += len(data)
        if len(lines) >= count or spent >= MAX_ANSWER_BYTES:
            break
    return lines, sections


def _lines_answer(index: LineIndex, start: int, count: int) -> dict[str, Any]:
    total = index.line_count
    lines, sections = _render(index, start, count) if start <= total else ([], [])
    return {"total": total, "start": start, "lines": lines, "sections": sections}


# ---- routes ------------------------------------------------------------------------------


@router.get("/r/{repo}/p/{number}/s/{key}", response_class=HTMLResponse)
def log_page(
    request: Request,
    repo: str,
    number: int,
    key: str,
    state: StateDep,
    caller: WebUser,
    attempt: int | None = None,
) -> HTMLResponse:
    pipeline, step, chosen, index = _index(state, repo, number, key, attempt)
    growing = chosen == step.attempt and step.status in GROWING
    total = index.line_count
    # A running step is followed from its end; any other log opens at its top.
    first = max(1, total - FIRST_LINES + 1) if growing else 1
    api = f"/api/v1/repos/{repo}/pipelines/{number}/steps/{key}"
    here = f"/r/{repo}/p/{number}/s/{key}"
    return page(request, "log.html", caller, repo=repo, pipeline=pipeline, step=step,
                attempt=chosen, attempts=list(range(1, step.attempt + 1)), growing=growing,
                here=here, raw_url=f"{api}/log?attempt={chosen}",
                stream_url=f"{api}/log/stream" if growing else "", offset=index.size,
                initial=_lines_answer(index, first, FIRST_LINES))  # fmt: skip


@router.get("/r/{repo}/p/{number}/s/{key}/lines")
def log_lines(
    repo: str,
    number: int,
    key: str,
    state: StateDep,
    _: WebUser,
    attempt: int | None = None,
    start: int = Query(1, ge=1, description="The first line, counted from 1."),
    count: int = Query(500, ge=1),
) -> JSONResponse:
    """`count` lines (at most MAX_COUNT) from line `start`, as HTML, and the log's length."""
    index = _index(state, repo, number, key, attempt)[3]
    # Straight to JSON: the answer is built here, there is nothing to validate or convert.
    return JSONResponse(_lines_answer(index, start, min(count, MAX_COUNT)))


@router.get("/r/{repo}/p/{number}/s/{key}/search")
def log_search(
    repo: str,
    number: int,
    key: str,
    state: StateDep,
    _: WebUser,
    q: str = Query(..., min_length=1, max_length=200),
    attempt: int | None = None,
) -> dict[str, Any]:
    """The lines (counted from 1) that contain `q`, ignoring case and colour codes."""
    index = _index(state, repo, number, key, attempt)[3]
    found = index.search(q, MAX_MATCHES + 1, clean=strip_escapes)
    return {"matches": [n + 1 for n in found[:MAX_MATCHES]], "truncated": len(found) > MAX_MATCHES}


@router.get("/r/{repo}/p/{number}/s/{key}/section")
def log_section(
    repo: str,
    number: int,
    key: str,
    state: StateDep,
    _: WebUser,
    start: int = Query(..., ge=1),
    attempt: int | None = None,
) -> dict[str, Any]:
    """Where the command section beginning at line `start` ends: the next command's line,
    or null when it runs to the end of the log (so far)."""
    index = _index(state, repo, number, key, attempt)[3]
    following = index.next_line_starting(SECTION, start - 1)
    return {"start": start, "end": None if following is None else following + 1}
