"""What the outside world hears: commit statuses on the forge's API, chat notifications
through Apprise, stories shipped to the tracker — real HTTP receivers on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Test
          script: [test "$GREEN" = yes]
      - step:
          name: Ship
          deployment: production
          script: [echo shipped]
"""


class Receiver:
    """Records every request (path, headers, JSON body); answers 201 like a forge does."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode()
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                answer = b'{"id": 1, "state": "success"}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def at(self, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(prefix)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_statuses_notifications_and_stories_reach_their_receivers(
    hosted: Any, receiver: Receiver
) -> None:
    repo = hosted(PIPELINE)
    api = repo.api
    base = f"http://127.0.0.1:{receiver.port}"
    made = api.post("/repos/shop/commit-statuses",
                    {"forge": "github", "project": "acme/shop", "token": "ghp-secret-token",
                     "base_url": f"{base}/gh"})  # fmt: skip
    assert made.status_code == 201, made.text
    kinds = ["pipeline.failed", "pipeline.fixed", "deployment.succeeded"]
    note = api.post("/repos/shop/notifications",
                    {"name": "team hook", "url": f"json://127.0.0.1:{receiver.port}/chat",
                     "kinds": kinds})  # fmt: skip
    assert note.status_code == 201, note.text
    assert note.json()["scheme"] == "json"
    tracker = api.client.put("/api/v1/repos/shop/tracker",
                             json={"url": f"{base}/tracker", "environments": ["production"]},
                             headers=api.headers())  # fmt: skip
    assert tracker.status_code == 204

    failed = repo.wait(repo.trigger()["number"], {"failed"})
    api.state.announcer.drain()
    statuses = _wait_for(lambda: len(receiver.at("/gh/")) >= 2 and receiver.at("/gh/"), "statuses")
    sha = failed["commit"]
    assert [r["path"] for r in statuses] == [f"/gh/repos/acme/shop/statuses/{sha}"] * 2
    assert [r["body"]["state"] for r in statuses] == ["pending", "failure"]
    assert statuses[-1]["body"]["context"] == "shipline"
    assert statuses[-1]["body"]["target_url"].endswith(f"/pipelines/{failed['number']}")
    assert "failed in 'Test'" in statuses[-1]["body"]["description"]
    assert statuses[0]["headers"]["Authorization"] == "Bearer ghp-secret-token"
    chat = _wait_for(lambda: receiver.at("/chat"), "the failure notification")
    assert chat[0]["body"]["type"] == "failure"
    assert "shop#1 failed on main" in chat[0]["body"]["title"]
    assert f"/pipelines/{failed['number']}" in chat[0]["body"]["message"]

    api.client.put("/api/v1/repos/shop/variables/GREEN", json={"value": "yes"},
                   headers=api.headers())  # fmt: skip
    repo.commit({"a.txt": "1"}, "Basket totals [finishes #4711] and PROJ-12")
    fixed = repo.wait(repo.trigger()["number"], {"passed"})
    api.state.announcer.drain()
    chat = _wait_for(lambda: len(receiver.at("/chat")) >= 3 and receiver.at("/chat"), "chat")
    titles = [r["body"]["title"] for r in chat]
    assert any("(fixed)" in t for t in titles), titles
    deployed = next(r["body"] for r in chat if "deployed to production" in r["body"]["title"])
    assert "#4711" in deployed["message"]
    assert "PROJ-12" in deployed["message"]
    stories = _wait_for(lambda: receiver.at("/tracker"), "the tracker webhook")[0]["body"]
    assert stories["environment"] == "production"
    assert stories["deployment"]["commit"] == fixed["commit"]
    assert {(s["tracker"], s["id"], s["action"]) for s in stories["stories"]} == {
        ("pivotal", "4711", "finishes"),
        ("jira", "PROJ-12", None),
    }
    last = receiver.at("/gh/")[-1]["body"]
    assert last["state"] == "success"
    env = api.get("/repos/shop/environments/production")
    assert {s["id"] for s in env["current"]["stories"]} == {"4711", "PROJ-12"}


def test_a_failing_target_is_recorded_and_secrets_are_never_listed(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    api = repo.api
    api.post("/repos/shop/commit-statuses",
             {"forge": "gitlab", "project": "acme/shop", "token": "glpat-very-secret",
              "base_url": "http://127.0.0.1:9/api/v4"})  # fmt: skip
    api.post("/repos/shop/notifications",
             {"name": "dead hook", "url": "json://127.0.0.1:9/nowhere?token=hook-secret",
              "kinds": ["pipeline.failed"]})  # fmt: skip
    repo.wait(repo.trigger()["number"], {"failed"})
    api.state.announcer.drain()
    targets = api.get("/repos/shop/commit-statuses")
    assert targets[0]["last_error"], targets
    assert "glpat-very-secret" not in json.dumps(targets)
    hooks = api.get("/repos/shop/notifications")
    assert hooks[0]["last_error"]
    assert "hook-secret" not in json.dumps(hooks)
    bad = api.post("/repos/shop/notifications", {"name": "x", "url": "nonsense"})
    assert bad.status_code == 422
    wrong = api.post("/repos/shop/commit-statuses",
                     {"forge": "sourceforge", "project": "a/b", "token": "t"})  # fmt: skip
    assert wrong.status_code == 422
    assert "github" in wrong.json()["detail"]
