"""What the running server holds: settings, the database and the services built on it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from shipline.server.settings import ServerSettings
from shipline.store.db import Database

if TYPE_CHECKING:
    from shipline.server.announcer import Announcer
    from shipline.server.auth import Caller
    from shipline.server.deploys import DeploymentService
    from shipline.server.jobs import JobService
    from shipline.server.leases import LeaseKeeper
    from shipline.server.logs import LogStore
    from shipline.server.orchestrator import Orchestrator
    from shipline.server.retention import ArtifactJanitor
    from shipline.server.secretbox import SecretBox
    from shipline.server.variables import VariableService
    from shipline.server.webhooks import WebhookInbox
    from shipline.worker.pool import WorkerPool


@dataclass
class ServerState:
    settings: ServerSettings
    db: Database
    orchestrator: Orchestrator
    jobs: JobService
    logs: LogStore
    variables: VariableService
    box: SecretBox
    leases: LeaseKeeper
    boot: str
    deploys: DeploymentService
    hook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    pool: WorkerPool | None = None
    # Checked tokens, by hash: (caller, trusted until time.monotonic()); see server.auth.
    callers: dict[str, tuple[Caller, float]] = field(default_factory=dict)
    webhooks: WebhookInbox | None = None
    announcer: Announcer | None = None
    janitor: ArtifactJanitor | None = None

    def repo_dir(self, name: str) -> Path:
        return self.settings.repos_dir / f"{name}.git"


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.shipline
    return state


StateDep = Annotated[ServerState, Depends(get_state)]
