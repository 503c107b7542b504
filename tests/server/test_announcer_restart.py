"""A notification handed over but not yet delivered when the server is killed is delivered
after the restart: the announcer's outbox is in the database, not in memory."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]
FAILING = """
pipelines:
  default:
    - step:
        name: Breaks
        script: [exit 1]
"""


class HoldingReceiver:
    """A chat webhook on loopback that holds its first request unanswered until released
    (the server is killed meanwhile), then answers every request with 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                outer.bodies.append(body)
                if len(outer.bodies) == 1:
                    outer.first_arrived.set()
                    outer.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    found = HoldingReceiver()
    yield found
    found.release.set()
    found.server.shutdown()


def _api(served: Any, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(
        method,
        f"{served.url}/api/v1{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {served.admin_token}"},
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def test_a_notification_cut_off_by_kill_9_is_delivered_after_the_restart(
    servers: Any, make_repo: Any, receiver: HoldingReceiver
) -> None:
    first = servers.start()
    _api(first, "POST", "/repos", name="shop")
    _api(first, "POST", "/repos/shop/notifications", name="team",
         url=f"json://127.0.0.1:{receiver.port}/chat", kinds=["pipeline.failed"])  # fmt: skip
    repo: Path = make_repo(FAILING)
    remote = f"http://x:{first.admin_token}@{first.url.removeprefix('http://')}/git/shop.git"
    pushed = subprocess.run(["git", *IDENTITY, "push", remote, "HEAD:main"],
                            cwd=repo, capture_output=True, text=True, check=False)  # fmt: skip
    assert "pipeline #1" in pushed.stderr, pushed.stderr

    # The server is sending the failure notice when it dies: nobody got it.
    assert receiver.first_arrived.wait(30), "the notification never left the first server"
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    receiver.release.set()

    second = servers.start(first.admin_token)
    deadline = time.monotonic() + 30
    while len(receiver.bodies) < 2:
        assert time.monotonic() < deadline, f"not sent again after the restart: {second.output()}"
        time.sleep(0.05)
    again = receiver.bodies[1]
    assert again["type"] == "failure"
    assert "shop#1 failed on main" in again["title"]
    time.sleep(1)  # and only once more: the restart sent it, then forgot it
    assert len(receiver.bodies) == 2
    assert _api(second, "GET", "/repos/shop/pipelines/1")["status"] == "failed"
