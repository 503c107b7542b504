"""The seeds' workflow end to end, on the real Docker engine and local registry: build an
image tagged with the commit → test it with a service → push → tag `latest` → staging
redeploys by itself through a Portainer-style webhook → smoke test → production by a
deployer's click → a second release → rollback of production to the first.

The "Portainer" here is a small receiver in this test: on `POST /api/webhooks/<id>?tag=T` it
pulls `127.0.0.1:5000/webshop-cd/app:T` and (re)starts that environment's container, which
serves the commit it was built from on a loopback port.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import docker
import pytest

from shipline.store.models import Role

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webshop-cd"
IMAGE = "127.0.0.1:5000/webshop-cd/app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    name: str
    port: int
    container: str


class PortainerStub:
    """Just enough of Portainer's redeploy webhook: pull the tag, restart the container."""

    def __init__(self, client: docker.DockerClient, run_id: str) -> None:
        self.client = client
        self.stacks: dict[str, Stack] = {}
        self.calls: list[tuple[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                webhook = parts.path.rsplit("/", 1)[-1]
                tag = parse_qs(parts.query).get("tag", ["latest"])[0]
                stack = stub.stacks.get(webhook)
                if stack is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                stub.calls.append((stack.name, tag))
                stub.redeploy(stack, tag)
                self.send_response(204)  # as Portainer answers
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.run_id = run_id
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, name: str) -> tuple[str, Stack]:
        webhook = f"{name}-{self.run_id}"
        stack = Stack(name, _free_port(), f"shipline-e2e-{name}-{self.run_id}")
        self.stacks[webhook] = stack
        return f"{self.url}/api/webhooks/{webhook}", stack

    def redeploy(self, stack: Stack, tag: str) -> None:
        self.client.images.pull(IMAGE, tag=tag)
        self.remove(stack)
        self.client.containers.run(
            f"{IMAGE}:{tag}", name=stack.container, detach=True,
            ports={"8080/tcp": ("127.0.0.1", stack.port)},
        )  # fmt: skip

    def remove(self, stack: Stack) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(stack.container).remove(force=True)

    def serves(self, stack: Stack) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/", timeout=5) as response:
            return response.read().decode().strip()


@pytest.fixture
def portainer(tmp_path: Path) -> Iterator[PortainerStub]:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"needs a Docker engine ({exc}); run ./scripts/docker-up", pytrace=False)
    stub = PortainerStub(client, tmp_path.name[-12:].replace("_", "-").lower())
    yield stub
    stub.server.shutdown()
    for stack in stub.stacks.values():
        stub.remove(stack)


def _example_files() -> dict[str, str]:
    return {
        str(path.relative_to(EXAMPLE)): path.read_text()
        for path in EXAMPLE.rglob("*")
        if path.is_file()
    }


def _put(api: Any, path: str, body: dict[str, Any]) -> None:
    response = api.client.put(f"/api/v1{path}", json=body, headers=api.headers())
    assert response.status_code == 200, response.text


def _logs(repo: Any, pipeline: dict[str, Any]) -> str:
    return "\n".join(
        f"--- {s['name']} ({s['status']}: {s['reason']})\n"
        + repo.log(pipeline["number"], s["name"])
        for s in pipeline["steps"]
        if s["status"] not in ("pending", "not run", "paused")
    )


def test_build_test_push_deploy_promote_and_roll_back(
    make_api: Any, hosted: Any, portainer: PortainerStub
) -> None:
    api = make_api(executor="auto")
    files = _example_files()
    repo = hosted(files.pop("bitbucket-pipelines.yml"), files, on=api)
    (repo.work / "app" / "test.sh").chmod(0o755)
    repo.commit({}, "Keep the test script executable")
    for env in ("staging", "production"):
        webhook, stack = portainer.add(env)
        _put(api, f"/repos/shop/environments/{env}/variables/PORTAINER_WEBHOOK",
             {"value": webhook, "secured": True})  # fmt: skip
        _put(api, f"/repos/shop/environments/{env}/variables/APP_URL",
             {"value": f"http://127.0.0.1:{stack.port}/"})  # fmt: skip
    staging = next(s for s in portainer.stacks.values() if s.name == "staging")
    production = next(s for s in portainer.stacks.values() if s.name == "production")
    deployer = api.token_for(Role.DEPLOYER, "release-manager")

    def release(message: str) -> dict[str, Any]:
        repo.commit({"CHANGES": message}, message)
        started = repo.trigger()
        done = repo.wait(started["number"], {"paused", "failed", "passed"}, seconds=300)
        assert done["status"] == "paused", _logs(repo, done)
        return done

    def promote(pipeline: dict[str, Any]) -> None:
        step = repo.step(pipeline, "Redeploy production")["key"]
        path = f"/repos/shop/pipelines/{pipeline['number']}/steps/{step}/run"
        assert api.post(path, token=deployer).status_code == 202
        done = repo.wait(pipeline["number"], {"passed", "failed"}, seconds=120)
        assert done["status"] == "passed", _logs(repo, done)

    first = release("First release")
    one = first["commit"]
    assert portainer.serves(staging) == f"webshop {one}"
    tests = repo.log(first["number"], "Test with the catalogue service")
    assert "catalogue answered: tests pass" in tests
    assert "smoke test passed" in repo.log(first["number"], "Smoke test")
    webhook_log = repo.log(first["number"], "Redeploy staging")
    assert "redeploy requested" in webhook_log
    assert "/api/webhooks/" not in webhook_log  # the secured webhook URL never shows
    promote(first)
    assert portainer.serves(production) == f"webshop {one}"

    second = release("Second release")
    two = second["commit"]
    assert portainer.serves(staging) == f"webshop {two}"
    assert portainer.serves(production) == f"webshop {one}"  # production waits for a click
    promote(second)
    assert portainer.serves(production) == f"webshop {two}"

    rolled = api.post("/repos/shop/environments/production/rollback", {}, token=deployer)
    assert rolled.status_code == 202, rolled.text
    back = repo.wait(rolled.json()["number"], {"passed", "failed"}, seconds=120)
    assert back["status"] == "passed", _logs(repo, back)
    assert portainer.serves(production) == f"webshop {one}"
    env = api.get("/repos/shop/environments/production")
    assert (env["current"]["commit"], env["current"]["kind"]) == (one, "rollback")
    assert env["rolled_back_commit"] == two
    assert portainer.calls == [
        ("staging", one), ("production", one), ("staging", two), ("production", two),
        ("production", one),
    ]  # fmt: skip
    tags_url = "http://127.0.0.1:5000/v2/webshop-cd/app/tags/list"
    with urllib.request.urlopen(tags_url, timeout=10) as response:
        tags = set(json.load(response)["tags"])
    assert {one, two, "latest"} <= tags
