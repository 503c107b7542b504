"""Rendering pages: one Jinja2 environment, with autoescaping and the filters pages share."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shipline import __version__
from shipline.server.auth import Caller
from shipline.server.web.session import csrf_token
from shipline.server.web.svg import duration_label
from shipline.store.models import Role

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))  # autoescapes .html templates


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def ago(value: dt.datetime | str | None) -> str:
    """ "3 min ago", for times in lists."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    moment = _aware(value)
    assert moment is not None
    seconds = (dt.datetime.now(dt.UTC) - moment).total_seconds()
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds // 86400)} d ago"


def duration(start: dt.datetime | str | None, end: dt.datetime | str | None) -> str:
    """ "1 min 12 s" between two times (to now while `end` is missing)."""
    if start is None:
        return ""
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    if isinstance(end, str):
        end = dt.datetime.fromisoformat(end)
    began, ended = _aware(start), _aware(end) or dt.datetime.now(dt.UTC)
    assert began is not None
    seconds = max(0, int((ended - began).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    began, ended = _aware(start), _aware(end)
    if began is None or ended is None:
        return None
    return (ended - began).total_seconds()


templates.env.filters["ago"] = ago
templates.env.globals["duration"] = duration
templates.env.globals["version"] = __version__
templates.env.globals["duration_of"] = lambda s: "—" if s is None else duration_label(s)


def page(
    request: Request, template: str, caller: Caller | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page with what every page needs: who is signed in, what they may do, CSRF."""
    base = {
        "caller": caller,
        "csrf": csrf_token(request) if "session" in request.scope else "",
        "can_deploy": caller is not None and caller.role.allows(Role.DEPLOYER),
        "can_develop": caller is not None and caller.role.allows(Role.DEVELOPER),
        "is_admin": caller is not None and caller.role.allows(Role.ADMIN),
    }
    return templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
