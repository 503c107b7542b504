"""What the running server holds: settings and the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from shipline.server.settings import ServerSettings
from shipline.store.db import Database


@dataclass
class ServerState:
    settings: ServerSettings
    db: Database


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.shipline
    return state


StateDep = Annotated[ServerState, Depends(get_state)]
