"""A Shipline server for tests: in-process (TestClient, real embedded workers running real
steps on the shell) or a real `shipline serve` process (the root conftest)."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shipline.server.app import create_app, prepare_server
from shipline.server.settings import ServerSettings
from shipline.server.state import ServerState
from shipline.server.tokens import issue_token
from shipline.store.models import Role, User

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
