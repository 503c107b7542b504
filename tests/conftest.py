"""Shared fixtures: real git repositories, fresh databases (SQLite and PostgreSQL), and Shipline
servers — in-process (TestClient, real embedded workers) or real `shipline serve` processes."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shipline.server.app import create_app, prepare_server
from shipline.server.settings import ServerSettings
from shipline.server.state import ServerState
from shipline.server.tokens import issue_token
from shipline.store.models import Role, User

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
        # FORCE ends the test's own connections, and (shipline is in pg_signal_backend, see
        # scripts/postgres-up) an autovacuum worker that happens to be in there; a backend
        # still starting up can make it fail once, so try again before calling it an error.
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        for attempt in range(5):
            try:
                with admin() as conn:
                    conn.execute(drop)
                break
            except psycopg.Error:
                if attempt == 4:
                    raise
                time.sleep(0.5)


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
    lines: list[str] = []
    if token is None:
        for line in process.stdout:
            lines.append(line)
            match = re.search(r"admin token: (shp_\S+)", line)
            if match:
                token = match.group(1)
                break
            if time.monotonic() > deadline:
                break
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
        printed = "".join(lines)[-4000:]
        pytest.fail(f"shipline serve printed no admin token; it printed:\n{printed}")
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


# ---- an in-process server (TestClient, real embedded workers on the shell) -------------

GIT = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@shipline.invalid",
       "-c", "commit.gpgsign=false"]  # fmt: skip


@dataclass
class Api:
    client: TestClient
    admin_token: str
    settings: ServerSettings

    @property
    def state(self) -> ServerState:
        return self.client.app.state.shipline  # type: ignore[attr-defined,no-any-return]

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def token_for(self, role: Role, name: str) -> str:
        with self.state.db.session() as session:
            user = User(name=name, role=role.value)
            session.add(user)
            return issue_token(session, user, f"{name} token")

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = self.client.get(f"/api/v1{path}", headers=self.headers(token), **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        return self.client.post(f"/api/v1{path}", json=body, headers=self.headers(token))


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(tmp_path: Path, database_url: str) -> Iterator[MakeApi]:
    """make_api(**ServerSettings fields) → an in-process server with embedded workers."""
    started: list[tuple[TestClient, ServerState]] = []

    def build(**overrides: Any) -> Api:
        settings = ServerSettings(
            tmp_path / f"data{len(started)}", database_url, port=8000, executor="shell"
        )
        settings = dataclasses.replace(settings, **overrides)
        state, token = prepare_server(settings)
        if token is None:  # a second server on this database: the admin exists already
            with state.db.session() as session:
                admin = session.scalar(select(User).where(User.name == "admin"))
                assert admin is not None
                token = issue_token(session, admin, "another test server")
        client = TestClient(create_app(state))
        client.__enter__()
        started.append((client, state))
        return Api(client, token, settings)

    yield build
    for client, state in started:
        client.__exit__(None, None, None)
        state.db.dispose()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api()


@dataclass
class Hosted:
    """A repository hosted by an in-process server, fed by commits made in a work tree.

    Commits reach the hosted bare repository by `git fetch` into it (no hooks run, so no
    pipeline starts by itself); tests start pipelines with `trigger`.
    """

    api: Api
    name: str
    work: Path
    numbers: list[int] = field(default_factory=list)

    @property
    def bare(self) -> Path:
        return self.api.state.repo_dir(self.name)

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        for rel, text in files.items():
            target = self.work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        run = lambda *a: subprocess.run([*GIT, *a], cwd=self.work, check=True,  # noqa: E731
                                        capture_output=True, text=True).stdout  # fmt: skip
        run("checkout", "-q", "-B", branch)
        run("add", "-A")
        run("commit", "-q", "--allow-empty", "-m", message)
        subprocess.run(
            ["git", "fetch", "-q", str(self.work), f"+refs/heads/{branch}:refs/heads/{branch}"],
            cwd=self.bare, check=True, capture_output=True,
        )  # fmt: skip
        return run("rev-parse", "HEAD").strip()

    def trigger(self, branch: str = "main", expect: int = 201, **body: Any) -> dict[str, Any]:
        response = self.api.post(f"/repos/{self.name}/pipelines", {"branch": branch, **body})
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    def pipeline(self, number: int) -> dict[str, Any]:
        return self.api.get(f"/repos/{self.name}/pipelines/{number}")  # type: ignore[no-any-return]

    def wait(self, number: int, until: set[str], seconds: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        pipeline = self.pipeline(number)
        while pipeline["status"] not in until:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}#{number} never reached {until}: {pipeline}")
            time.sleep(0.05)
            pipeline = self.pipeline(number)
        return pipeline

    def step(self, pipeline: dict[str, Any], name: str) -> dict[str, Any]:
        return next(s for s in pipeline["steps"] if s["name"] == name)  # type: ignore[no-any-return]

    def log(self, number: int, name: str, attempt: int | None = None) -> str:
        key = self.step(self.pipeline(number), name)["key"]
        query = f"?attempt={attempt}" if attempt else ""
        return self.api.get(f"/repos/{self.name}/pipelines/{number}/steps/{key}/log{query}")  # type: ignore[no-any-return]


MakeHosted = Callable[..., Hosted]


@pytest.fixture
def hosted(request: pytest.FixtureRequest, make_api: MakeApi, tmp_path: Path) -> MakeHosted:
    """hosted(pipeline_yaml, files={}, name="shop", on=api) → a Hosted repository, committed
    (on the `api` fixture's server unless `on` names another)."""

    def build(
        pipeline: str,
        files: dict[str, str] | None = None,
        name: str = "shop",
        on: Api | None = None,
    ) -> Hosted:
        if on is None:
            on = request.getfixturevalue("api")
        response = on.post("/repos", {"name": name})
        assert response.status_code == 201, response.text
        work = tmp_path / f"work-{name}-{id(on)}"
        work.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=work, check=True)
        repo = Hosted(on, name, work)
        repo.commit({"bitbucket-pipelines.yml": pipeline, **(files or {})}, "initial commit")
        return repo

    return build


# ---- a real browser: Debian's Chromium driven by Playwright ------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium page (its own profile). Fails — never skips — without Chromium."""
    if not CHROMIUM.is_file():
        pytest.fail("no /usr/bin/chromium: run ./scripts/browser-up", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def web_login() -> Callable[..., None]:
    """web_login(page, url, name, secret): sign in through the real form, as a person would."""

    def sign_in(page: Any, url: str, name: str, secret: str) -> None:
        page.goto(f"{url}/login")
        page.fill("#name", name)
        page.fill("#secret", secret)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")

    return sign_in
