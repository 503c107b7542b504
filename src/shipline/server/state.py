"""What the running server holds: settings and the database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from shipline.server.settings import ServerSettings
from shipline.store.db import Database

if TYPE_CHECKING:
    from shipline.server.worker import Workers


@dataclass
class ServerState:
    settings: ServerSettings
    db: Database
    hook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    workers: Workers | None = None

    @property
    def hook_url(self) -> str:
        # Hooks run on this machine: loopback reaches the server whatever address it binds.
        return f"http://127.0.0.1:{self.settings.port}/api/v1/internal/push"


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.shipline
    return state


StateDep = Annotated[ServerState, Depends(get_state)]
