"""Build the FastAPI application and prepare its data directory and database."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from shipline import __version__
from shipline.run.choice import choose_executor
from shipline.server import git_http
from shipline.server.api import pipelines, routes
from shipline.server.settings import ServerSettings
from shipline.server.state import ServerState
from shipline.server.tokens import bootstrap_admin
from shipline.server.worker import Workers
from shipline.store.db import Database

logger = logging.getLogger(__name__)


def prepare_server(settings: ServerSettings) -> tuple[ServerState, str | None]:
    """Create the data directory, migrate the database, and create the first admin.

    Returns the state and, on the very first start only, the admin's one-time token.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.repos_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    db.migrate()
    with db.session() as session:
        token = bootstrap_admin(session)
    state = ServerState(settings, db)
    executor, notes = choose_executor(settings.executor)
    for note in notes:
        logger.warning("%s", note)
    state.workers = Workers(state, executor, settings.concurrency)
    state.workers.recover()
    return state, token


def create_app(state: ServerState) -> FastAPI:
    app = FastAPI(
        title="Shipline",
        version=__version__,
        description="Self-hosted continuous delivery: REST API.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.shipline = state
    app.include_router(routes.router)
    app.include_router(pipelines.router)
    app.include_router(git_http.router)
    return app
