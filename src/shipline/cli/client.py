"""Client verbs that talk to a Shipline server: login, repo create/list."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

_CONFIG_HOME = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
CONFIG = _CONFIG_HOME / "shipline" / "client.json"
EXIT_ERROR = 1

repo_app = typer.Typer(help="Repositories on the server.", no_args_is_help=True)


def _saved() -> dict[str, str]:
    try:
        data = json.loads(CONFIG.read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def server_and_token() -> tuple[str, str]:
    """SHIPLINE_SERVER / SHIPLINE_TOKEN, else what `shipline login` saved."""
    saved = _saved()
    server = os.environ.get("SHIPLINE_SERVER") or saved.get("server")
    token = os.environ.get("SHIPLINE_TOKEN") or saved.get("token")
    if not server or not token:
        Console(stderr=True).print(
            "[red]error:[/] not logged in: run [bold]shipline login URL --token TOKEN[/] "
            "(or set SHIPLINE_SERVER and SHIPLINE_TOKEN)"
        )
        raise typer.Exit(EXIT_ERROR)
    return server.rstrip("/"), token


def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    server, token = server_and_token()
    try:
        response = httpx.request(
            method,
            f"{server}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        Console(stderr=True).print(
            f"[red]error:[/] cannot reach {escape(server)}: {escape(str(exc))}"
        )
        raise typer.Exit(EXIT_ERROR) from exc
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        text = detail if isinstance(detail, str) else json.dumps(detail)
        Console(stderr=True).print(f"[red]error:[/] {response.status_code}: {escape(text)}")
        raise typer.Exit(EXIT_ERROR)
    return response.json()


def login(
    server: Annotated[str, typer.Argument(help="Server URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[str, typer.Option("--token", help="An API token from the server.")],
) -> None:
    """Check a token against a server and remember both for later commands."""
    os.environ["SHIPLINE_SERVER"], os.environ["SHIPLINE_TOKEN"] = server, token
    me = call("GET", "/me")
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CONFIG.touch(mode=0o600)
    CONFIG.write_text(json.dumps({"server": server.rstrip("/"), "token": token}))
    Console().print(f"logged in to {escape(server)} as {escape(me['name'])} ({me['role']})")


@repo_app.command("create")
def repo_create(name: Annotated[str, typer.Argument(help="Repository name.")]) -> None:
    """Create a repository and print the URL to push to."""
    repo = call("POST", "/repos", {"name": name})
    console = Console(highlight=False)
    console.print(f"created {escape(repo['name'])}")
    console.print(f"push with: git remote add shipline {repo['clone_url']}")
    console.print("           git push shipline HEAD")


@repo_app.command("list")
def repo_list() -> None:
    """List the server's repositories."""
    table = Table("Name", "Clone URL", "Created", show_edge=False, header_style="bold")
    for repo in call("GET", "/repos"):
        table.add_row(repo["name"], repo["clone_url"], repo["created_at"][:19])
    Console().print(table)


def _fetch_text(path: str) -> str:
    server, token = server_and_token()
    response = httpx.get(
        f"{server}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    if response.status_code >= 400:
        detail = response.json().get("detail", response.text) if response.content else ""
        Console(stderr=True).print(f"[red]error:[/] {response.status_code}: {escape(str(detail))}")
        raise typer.Exit(EXIT_ERROR)
    return response.text


def pipelines(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
) -> None:
    """List a repository's pipelines, newest first."""
    table = Table(
        "#", "Status", "Ref", "Pipeline", "Commit", "Steps", show_edge=False, header_style="bold"
    )
    for pipeline in call("GET", f"/repos/{repo}/pipelines?limit={limit}"):
        steps = " ".join(f"{s['name']}:{s['status']}" for s in pipeline["steps"])
        table.add_row(
            str(pipeline["number"]),
            pipeline["status"],
            pipeline["ref_name"],
            pipeline["pipeline"],
            pipeline["commit"][:12],
            steps,
        )
    Console().print(table)


def logs(
    target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")],
    step: Annotated[
        str | None, typer.Argument(help="Step number or name (default: every step).")
    ] = None,
) -> None:
    """Print the logs of a pipeline's steps."""
    repo, _, number = target.partition("#")
    if not repo or not number.isdigit():
        raise typer.BadParameter("expected REPO#N, e.g. webshop#7", param_hint="TARGET")
    pipeline = call("GET", f"/repos/{repo}/pipelines/{number}")
    chosen = [
        s
        for s in pipeline["steps"]
        if step is None or step in (str(s["number"]), s["name"], s["key"])
    ]
    if not chosen:
        Console(stderr=True).print(f"[red]error:[/] no step '{escape(step or '')}' in {target}")
        raise typer.Exit(EXIT_ERROR)
    for item in chosen:
        if len(chosen) > 1:
            print(f"=== {item['number']}. {item['name']} ({item['status']})")
        if item["status"] in ("pending", "paused", "not run", "skipped"):
            print(f"(no log: the step is {item['status']})")
            continue
        print(_fetch_text(f"/repos/{repo}/pipelines/{number}/steps/{item['key']}/log"), end="")


def cancel(target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")]) -> None:
    """Stop a pending or running pipeline."""
    repo, _, number = target.partition("#")
    if not repo or not number.isdigit():
        raise typer.BadParameter("expected REPO#N, e.g. webshop#7", param_hint="TARGET")
    call("POST", f"/repos/{repo}/pipelines/{number}/cancel")
    Console().print(f"stopping {escape(target)}")
