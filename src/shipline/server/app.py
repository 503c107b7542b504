"""Build the server: data directory, database, services, embedded workers, FastAPI app."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select

from shipline import __version__
from shipline.run.choice import choose_executor
from shipline.run.shell import kill_leftover_steps
from shipline.server import git_http
from shipline.server.announcer import Announcer
from shipline.server.api import (
    deployments,
    integrations,
    pipelines,
    routes,
    users,
    variables,
    webhooks,
)
from shipline.server.api import logs as log_routes
from shipline.server.deploys import DeploymentService
from shipline.server.embedded import EMBEDDED_PREFIX, boot_id, start_embedded_workers
from shipline.server.hook import install_hook
from shipline.server.jobs import JobService, JobSettings
from shipline.server.leases import LeaseKeeper
from shipline.server.logs import LogStore
from shipline.server.orchestrator import Orchestrator
from shipline.server.plans import CompiledPipeline, PlanCache
from shipline.server.retention import ArtifactJanitor
from shipline.server.secretbox import load_secret_box
from shipline.server.settings import ServerSettings
from shipline.server.state import ServerState
from shipline.server.tokens import bootstrap_admin
from shipline.server.variables import VariableService
from shipline.server.web.app import mount_web
from shipline.server.webhooks import WebhookInbox
from shipline.store.db import Database
from shipline.store.models import Environment, Pipeline, Repository

logger = logging.getLogger(__name__)


def prepare_server(
    settings: ServerSettings, *, start_workers: bool = True
) -> tuple[ServerState, str | None]:
    """Create the data directory, migrate the database, create the first admin, take back
    what an earlier run left unfinished, and start the embedded workers.

    Returns the state and, on the very first start only, the admin's one-time token.
    """
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    settings.repos_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    db.migrate()
    with db.session() as session:
        token = bootstrap_admin(session)
    box = load_secret_box(data)
    for repo_dir in sorted(settings.repos_dir.glob("*.git")):  # hooks of an older Shipline
        install_hook(repo_dir)
    plans = PlanCache()

    def compile_pipeline(pipeline: Pipeline) -> CompiledPipeline:
        with db.session() as session:
            name = session.scalar(
                select(Repository.name).where(Repository.id == pipeline.repository_id)
            )
        repo_dir = settings.repos_dir / f"{name}.git"
        return plans.get(pipeline.id, repo_dir, pipeline.commit, pipeline.event, pipeline.only_step)

    orchestrator = Orchestrator(db, plans, compile_pipeline)
    logs = LogStore(data / "logs", settings.max_log_bytes)
    variables_service = VariableService(box)
    jobs = JobService(
        db, orchestrator, logs, variables_service, settings.repos_dir, data / "artifacts",
        JobSettings(settings.lease_seconds, settings.heartbeat_seconds, settings.url),
    )  # fmt: skip
    leases = LeaseKeeper(
        db, orchestrator, logs,
        lease_seconds=settings.lease_seconds, retry_lost_steps=settings.retry_lost_steps,
        on_lost=jobs.forget_attempt,
    )  # fmt: skip
    deploys = DeploymentService(db, settings.repos_dir, compile_pipeline)
    orchestrator.deploys = jobs.deploys = deploys
    deploys.on_queued = jobs.queue.notify
    deploys.on_pipeline_changed = orchestrator.advance
    leases.on_failed = lambda step_id: deploys.step_ended(step_id, "failed")
    boot = boot_id()
    state = ServerState(
        settings, db, orchestrator, jobs, logs, variables_service, box, leases, boot, deploys
    )
    state.webhooks = WebhookInbox(state)
    state.announcer = announcer = Announcer(state)
    orchestrator.on_started.append(
        lambda pipeline_id: announcer.pipeline_changed(pipeline_id, "running")
    )
    orchestrator.on_finished.append(announcer.pipeline_changed)
    orchestrator.on_looked.append(logs.pipeline_looked_at)
    deploys.on_deployment.append(announcer.deployment_changed)
    announcer.resume()  # before anything below can hand over more
    # What an earlier run of this server left: its steps' processes, then its attempts.
    work = data / "work"
    if work.is_dir():
        for pgid in kill_leftover_steps(work):
            logger.warning("killed process group %s left by an interrupted step", pgid)
        shutil.rmtree(work, ignore_errors=True)
    leases.recover(EMBEDDED_PREFIX, f"{EMBEDDED_PREFIX}{boot}")
    with db.session() as session:  # a deployment may have been let go, then the server died
        deploys.dispatch(session.scalars(select(Environment.id)).all())
    leases.start()
    state.janitor = ArtifactJanitor(
        db, data / "artifacts", days=settings.artifact_retention_days,
        keep=settings.keep_deployments,
    )  # fmt: skip
    state.janitor.start()
    if start_workers and settings.workers > 0:
        executor, notes = choose_executor(settings.executor)
        for note in notes:
            logger.warning("%s", note)
        state.pool = start_embedded_workers(
            jobs, executor, boot=boot, size=settings.workers, data_dir=data
        )
    return state, token


def shutdown(state: ServerState) -> None:
    if state.pool is not None:
        state.pool.stop()
    state.leases.stop()
    if state.janitor is not None:
        state.janitor.stop()
    if state.webhooks is not None:
        state.webhooks.shutdown()
    if state.announcer is not None:
        state.announcer.shutdown()


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        shutdown(state)

    app = FastAPI(
        title="Shipline",
        version=__version__,
        description="Self-hosted continuous delivery: REST API.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.shipline = state
    app.include_router(routes.router)
    app.include_router(pipelines.router)
    app.include_router(log_routes.router)
    app.include_router(variables.router)
    app.include_router(deployments.router)
    app.include_router(integrations.router)
    app.include_router(users.router)
    app.include_router(webhooks.router)
    app.include_router(git_http.router)
    mount_web(app, state)
    return app
