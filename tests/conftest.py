"""Shared fixtures: real git repositories in temporary directories, fresh databases."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

GIT_IDENTITY = [
    "-c",
    "user.name=Shipline Test",
    "-c",
    "user.email=test@shipline.invalid",
    "-c",
    "commit.gpgsign=false",
]


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Create a git repository holding `pipeline` (and `files`), committed on `branch`."""

    counter = iter(range(1000))

    def factory(
        pipeline: str,
        files: dict[str, str] | None = None,
        branch: str = "main",
        message: str = "initial commit",
    ) -> Path:
        repo = tmp_path / f"repo{next(counter)}"
        repo.mkdir()
        git(repo, "init", "-q", "-b", branch)
        (repo / "bitbucket-pipelines.yml").write_text(pipeline)
        for rel, text in (files or {}).items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
        return repo

    return factory


# The PostgreSQL that ./scripts/postgres-up keeps running for the tests.
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 55432
POSTGRES_USER = POSTGRES_PASSWORD = "shipline"
DATABASE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASE_KINDS, ids=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database of this test's own, on each kind Shipline
    supports: an SQLite file in tmp_path, or a new database on the PostgreSQL of
    ./scripts/postgres-up, dropped (whoever is still connected) when the test ends."""
    kind: str = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/shipline.db"
        return

    import psycopg  # only tests that use PostgreSQL need the driver
    from psycopg import sql

    def admin() -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                host=POSTGRES_HOST,
                port=POSTGRES_PORT,
                user=POSTGRES_USER,
                password=POSTGRES_PASSWORD,
                dbname="shipline",
                connect_timeout=5,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"no PostgreSQL lets shipline in on {POSTGRES_HOST}:{POSTGRES_PORT} ({exc}); "
                "run ./scripts/postgres-up",
                pytrace=False,
            )

    name = f"shipline_test_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        # Copying template1's files is about twice as fast as WAL-logging it block by block.
        create = sql.SQL("CREATE DATABASE {} STRATEGY = FILE_COPY")
        conn.execute(create.format(sql.Identifier(name)))
    try:
        yield (
            f"postgresql+psycopg://{POSTGRES_USER}:{POSTGRES_PASSWORD}"
            f"@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
        )
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# ---- a real `shipline serve` process (server and CLI client tests) ----------------------


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
    data_dir: Path,
    database_url: str,
    port: int,
    admin_token: str | None = None,
    extra: tuple[str, ...] = (),
) -> Served:
    """`shipline serve` as a user starts it; `admin_token` when it is not the first start;
    `extra` options for `serve`."""
    shipline = Path(sys.executable).with_name("shipline")
    process = subprocess.Popen(
        [str(shipline), "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--database-url", database_url, *extra],
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

    def start(self, admin_token: str | None = None, *extra: str) -> Served:
        server = start_server(self.data_dir, self.database_url, self.port, admin_token, extra)
        self.started.append(server)
        return server


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[Servers]:
    pool = Servers(tmp_path / "server-data", database_url, _free_port(), [])
    yield pool
    for server in pool.started:
        if server.process.poll() is None:
            stop_server(server)
