"""Talking to a Shipline server: where it is, the token, one request helper, `login`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

EXIT_ERROR = 1


def config_path() -> Path:
    home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return home / "shipline" / "client.json"


def _saved() -> dict[str, str]:
    try:
        data = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def error(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(EXIT_ERROR)


def server_and_token() -> tuple[str, str]:
    """SHIPLINE_SERVER / SHIPLINE_TOKEN, else what `shipline login` saved."""
    saved = _saved()
    server = os.environ.get("SHIPLINE_SERVER") or saved.get("server")
    token = os.environ.get("SHIPLINE_TOKEN") or saved.get("token")
    if not server or not token:
        raise error(
            "not logged in: run shipline login URL --token TOKEN "
            "(or set SHIPLINE_SERVER and SHIPLINE_TOKEN)"
        )
    return server.rstrip("/"), token


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text.strip()
    return detail if isinstance(detail, str) else json.dumps(detail)


def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One API request; a transport failure or an error status becomes a clear exit 1."""
    server, token = server_and_token()
    try:
        response = httpx.request(
            method,
            f"{server}/api/v1{path}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        raise error(f"cannot reach {server}: {exc}") from exc
    if response.status_code >= 400:
        raise error(f"{response.status_code}: {_detail(response)}")
    return response


def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = request(method, path, json=body)
    return response.json() if response.content else None


def login(
    server: Annotated[str, typer.Argument(help="Server URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[str, typer.Option("--token", help="An API token from the server.")],
) -> None:
    """Check a token against a server and remember both for later commands."""
    os.environ["SHIPLINE_SERVER"], os.environ["SHIPLINE_TOKEN"] = server, token
    me = call("GET", "/me")
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"server": server.rstrip("/"), "token": token}))
    Console().print(f"logged in to {escape(server)} as {escape(me['name'])} ({me['role']})")


def parse_target(target: str) -> tuple[str, int]:
    """REPO#N → (REPO, N)."""
    repo, _, number = target.partition("#")
    if not repo or not number.isdigit():
        raise typer.BadParameter("expected REPO#N, e.g. webshop#7", param_hint="TARGET")
    return repo, int(number)


def find_step(pipeline: dict[str, Any], wanted: str) -> dict[str, Any]:
    """A step by number, name or key."""
    for step in pipeline["steps"]:
        if wanted in (str(step["number"]), step["name"], step["key"]):
            return step  # type: ignore[no-any-return]
    names = ", ".join(f"{s['number']}. {s['name']}" for s in pipeline["steps"])
    raise error(f"no step '{wanted}' in {pipeline['repo']}#{pipeline['number']} ({names})")
