"""Signing in to the web UI: a signed session cookie, and CSRF protection on every form.

The cookie (Starlette's SessionMiddleware, signed with a key kept in the data directory) holds
the user's id and a random CSRF token. Every state-changing request from a page carries that
token — as a hidden `csrf` form field, or the `X-CSRF-Token` header htmx sends — and is
refused without it, so another site cannot make a signed-in browser act.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from shipline.server.auth import Caller, session_caller
from shipline.server.state import StateDep
from shipline.store.models import User

SESSION_COOKIE = "shipline_session"
CSRF_HEADER = "x-csrf-token"


def session_key(data_dir: Path) -> str:
    """The key that signs session cookies: made once, 0600, in the data directory."""
    path = data_dir / "session.key"
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as key:
            key.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def sign_in(request: Request, user: User) -> None:
    request.session.clear()  # a new session for a new sign-in: no fixation
    request.session["user_id"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


class SignInRequired(Exception):
    """Raised by page dependencies; the app turns it into a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def web_user(request: Request, state: StateDep) -> Caller:
    caller = session_caller(state, request)
    if caller is None:
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return caller


def sign_in_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


async def check_csrf(request: Request) -> None:
    """For state-changing page requests: the session's token, from the form or a header."""
    expected = request.session.get("csrf", "")
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get("csrf", ""))
    if not expected or not hmac.compare_digest(str(given), str(expected)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "this form has expired or is not from Shipline; reload"
        )


WebUser = Annotated[Caller, Depends(web_user)]
Csrf = Depends(check_csrf)
