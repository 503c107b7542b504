"""A Shipline server for tests: in-process (TestClient) or a real `shipline serve` process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipline.server.app import create_app, prepare_server
from shipline.server.settings import ServerSettings
from shipline.server.tokens import issue_token
from shipline.store.models import Role, User


@dataclass
class Api:
    client: TestClient
    admin_token: str
    settings: ServerSettings

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def token_for(self, role: Role, name: str) -> str:
        state = self.client.app.state.shipline  # type: ignore[attr-defined]
        with state.db.session() as session:
            user = User(name=name, role=role.value)
            session.add(user)
            return issue_token(session, user, f"{name} token")


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    settings = ServerSettings(tmp_path / "data", database_url, port=8000)
    state, token = prepare_server(settings)
    assert token is not None
    with TestClient(create_app(state)) as client:
        yield Api(client, token, settings)
    state.db.dispose()
