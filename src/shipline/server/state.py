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
    from shipline.server.jobs import JobService
    from shipline.server.leases import LeaseKeeper
    from shipline.server.logs import LogStore
    from shipline.server.orchestrator import Orchestrator
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
    hook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    pool: WorkerPool | None = None
    webhooks: WebhookInbox | None = None

    @property
    def hook_url(self) -> str:
        # Hooks run on this machine: loopback reaches the server whatever address it binds.
        return f"http://127.0.0.1:{self.settings.port}/api/v1/internal/push"

    def repo_dir(self, name: str) -> Path:
        return self.settings.repos_dir / f"{name}.git"


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.shipline
    return state


StateDep = Annotated[ServerState, Depends(get_state)]
