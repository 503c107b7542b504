"""The sign-in and sign-out pages."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shipline.server.auth import session_caller
from shipline.server.state import StateDep
from shipline.server.users import authenticate_password
from shipline.server.web.render import page
from shipline.server.web.session import Csrf, sign_in, sign_out

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only a path on this server: never an open redirect to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login")
def login_page(request: Request, state: StateDep, next: str = "/") -> Response:
    if session_caller(state, request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return page(request, "login.html", None, next=_safe_next(next))


@router.post("/login", dependencies=[Csrf])
def login(
    request: Request,
    state: StateDep,
    name: str = Form(...),
    secret: str = Form(...),
    next: str = Form("/"),
) -> Response:
    with state.db.session() as session:
        user = authenticate_password(session, name, secret)
        if user is None:
            return page(
                request,
                "login.html",
                None,
                status_code=401,
                next=_safe_next(next),
                name=name,
                error="That name and password or token do not match.",
            )
        sign_in(request, user)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> HTMLResponse:
    sign_out(request)
    return RedirectResponse("/login", status_code=303)  # type: ignore[return-value]
