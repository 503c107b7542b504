"""A Shipline server for tests: in-process (TestClient) or a real `shipline serve` process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    admin_token: str
    data_dir: Path
    process: subprocess.Popen[str]
    lines: list[str]

    def output(self) -> str:
        """What the server printed so far (tracebacks of 500s included)."""
        return "".join(self.lines)


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """`shipline serve` as a user starts it, on a free loopback port."""
    port = _free_port()
    data_dir = tmp_path / "server-data"
    shipline = Path(sys.executable).with_name("shipline")
    process = subprocess.Popen(
        [
            str(shipline),
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--database-url",
            database_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None
    token = None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        match = re.search(r"admin token: (shp_\S+)", line)
        if match:
            token = match.group(1)
            break
        if time.monotonic() > deadline:
            break
    lines: list[str] = []
    # Keep reading: a server whose output pipe fills up would stop answering.
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    if token is None:
        process.kill()
        pytest.fail("shipline serve printed no admin token")
    yield Served(url, token, data_dir, process, lines)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
