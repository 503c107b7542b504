"""A real HTTP server on 127.0.0.1 standing in for a forge's commit status API.

It records every request (method, raw path, headers, JSON body) and answers what it is told
to: by default `201 Created` with the response the forge documents, built from the request
so the fields match; or any status, body and content type a test sets; or nothing at all for
a while (to make the client time out).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Recorded:
    method: str
    path: str  # raw, as sent: percent-encoding intact
    headers: dict[str, str]  # names in lower case
    body: Any


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Documented = Callable[[str, dict[str, Any]], Reply]


def github_created(path: str, body: dict[str, Any]) -> Reply:
    # docs.github.com "Create a commit status" → Response → 201 example.
    owner_repo, sha = path.split("/repos/", 1)[1].split("/statuses/")
    return created(
        {
            "url": f"https://api.github.com/repos/{owner_repo}/statuses/{sha}",
            "avatar_url": "https://github.com/images/error/hubot_happy.gif",
            "id": 1,
            "node_id": "MDY6U3RhdHVzMQ==",
            "state": body["state"],
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body.get("context", "default"),
            "created_at": "2012-07-20T01:19:13Z",
            "updated_at": "2012-07-20T01:19:13Z",
            "creator": {"login": "octocat", "id": 1, "type": "User", "site_admin": False},
        }
    )


def gitlab_created(path: str, body: dict[str, Any]) -> Reply:
    # docs.gitlab.com "Set the pipeline status of a commit" → Example response.
    return created(
        {
            "author": {
                "web_url": "https://gitlab.example.com/janedoe",
                "name": "Jane Doe",
                "username": "janedoe",
                "state": "active",
                "id": 28,
            },
            "name": body.get("name", "default"),
            "sha": path.rsplit("/", 1)[1],
            "status": body["state"],
            "coverage": None,
            "description": body.get("description"),
            "id": 93,
            "target_url": body.get("target_url"),
            "ref": None,
            "started_at": None,
            "created_at": "2016-01-19T09:05:50.355Z",
            "allow_failure": False,
            "finished_at": "2016-01-19T09:05:50.365Z",
        }
    )


def bitbucket_created(path: str, body: dict[str, Any]) -> Reply:
    # developer.atlassian.com "Create a build status for a commit" → 201 commitstatus.
    return created(
        {
            "type": "build",
            "links": {
                "self": {"href": f"https://api.bitbucket.org{path}/{body['key']}"},
                "commit": {"href": f"https://api.bitbucket.org{path.split('/statuses')[0]}"},
            },
            "uuid": "{2f1b5c4e-5cb4-4a64-9b8e-0f1d0c9d1e22}",
            "key": body["key"],
            "refname": None,
            "url": body["url"],
            "state": body["state"],
            "name": body.get("name"),
            "description": body.get("description"),
            "created_on": "2024-01-01T00:00:00.000000+00:00",
            "updated_on": "2024-01-01T00:00:00.000000+00:00",
        }
    )


def gitea_created(path: str, body: dict[str, Any]) -> Reply:
    # Gitea swagger: repoCreateStatus → 201 Status.
    return created(
        {
            "id": 7,
            "status": body["state"],
            "target_url": body.get("target_url", ""),
            "description": body.get("description", ""),
            "url": f"https://gitea.example.com{path}",
            "context": body.get("context", ""),
            "creator": {"id": 1, "login": "shipline-bot"},
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
    )


def created(payload: dict[str, Any]) -> Reply:
    return Reply(201, json.dumps(payload).encode())


DOCUMENTED: dict[str, Documented] = {
    "github": github_created,
    "gitlab": gitlab_created,
    "bitbucket": bitbucket_created,
    "gitea": gitea_created,
}


class ForgeServer:
    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.release = threading.Event()
        self.reset()

    def reset(self) -> None:
        """Forget earlier tests: their requests, replies and stalled answers."""
        self.release.set()  # let a stalled answer from an earlier test go
        self.requests: list[Recorded] = []
        self.forge = "github"
        self.reply: Reply | None = None  # None: the forge's documented 201
        self.stall = threading.Event()  # set: hold answers until `release` is set
        self.release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(
        self, status: int, body: Any, content_type: str = "application/json", **headers: str
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.reply = Reply(status, raw, content_type, headers)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(server: ForgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            body: dict[str, Any] = json.loads(raw) if raw else {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append(Recorded(self.command, self.path, headers, body))
            release = server.release
            if server.stall.is_set():
                release.wait(timeout=10)
            reply = server.reply or DOCUMENTED[server.forge](self.path, body)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the time-out tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture(scope="module")
def _running_forge_server() -> Iterator[ForgeServer]:
    server = ForgeServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def forge_server(_running_forge_server: ForgeServer) -> ForgeServer:
    """The local forge, fresh for this test: no requests seen, documented answers."""
    _running_forge_server.reset()
    return _running_forge_server
