"""Mount the web UI on the server's FastAPI app: sessions, static files, the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from shipline.server.state import ServerState
from shipline.server.web import (
    badges,
    charts,
    dashboard,
    deployments,
    logs,
    pipelines,
    settings,
    signin,
)
from shipline.server.web.session import SESSION_COOKIE, SignInRequired, session_key, sign_in_url

STATIC = Path(__file__).parent / "static"


def mount_web(app: FastAPI, state: ServerState) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(state.settings.data_dir),
        session_cookie=SESSION_COOKIE,
        max_age=14 * 24 * 3600,
        same_site="lax",
        https_only=False,  # behind a TLS proxy set it there; loopback tests speak http
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def to_sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_url(exc.next_url), status_code=303)

    for module in (signin, dashboard, pipelines, logs, deployments, charts, settings, badges):
        app.include_router(module.router)
