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


def start_server(
    data_dir: Path, database_url: str, port: int, admin_token: str | None = None
) -> Served:
    """`shipline serve` as a user starts it; `admin_token` when it is not the first start."""
    shipline = Path(sys.executable).with_name("shipline")
    process = subprocess.Popen(
        [str(shipline), "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--database-url", database_url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    token = admin_token
    deadline = time.monotonic() + 30
    if token is None:
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
    return Served(url, token, data_dir, process, lines)


def stop_server(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(10)
    except subprocess.TimeoutExpired:
        served.process.kill()


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    """A `shipline serve` process on a free loopback port."""
    server = start_server(tmp_path / "server-data", database_url, _free_port())
    yield server
    stop_server(server)


@pytest.fixture
def free_port() -> int:
    return _free_port()


@dataclass
class Servers:
    """Start and stop `shipline serve` processes on one data directory and database."""

    data_dir: Path
    database_url: str
    port: int
    started: list[Served]

    def start(self, admin_token: str | None = None) -> Served:
        server = start_server(self.data_dir, self.database_url, self.port, admin_token)
        self.started.append(server)
        return server


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[Servers]:
    pool = Servers(tmp_path / "server-data", database_url, _free_port(), [])
    yield pool
    for server in pool.started:
        if server.process.poll() is None:
            stop_server(server)
