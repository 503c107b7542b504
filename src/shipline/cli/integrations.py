"""`shipline notify add|list|remove` and `shipline statuses add|list|remove`: where a
repository's news goes (chat through Apprise URLs, commit statuses on the forge)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call

notify_app = typer.Typer(help="Chat and e-mail notifications (Apprise URLs).", no_args_is_help=True)
statuses_app = typer.Typer(help="Commit statuses on GitHub, GitLab, Bitbucket, Gitea.",
                           no_args_is_help=True)  # fmt: skip
Repo = Annotated[str, typer.Argument(help="Repository name.")]


@notify_app.command("add")
def notify_add(
    repo: Repo,
    name: Annotated[str, typer.Argument(help='What to call it, e.g. "team slack".')],
    url: Annotated[
        str,
        typer.Argument(
            help="An Apprise URL (slack://…, mmost://…, mailto://…); "
            "- reads it from standard input."
        ),
    ],
    on: Annotated[
        list[str] | None,
        typer.Option(
            "--on",
            help="pipeline.failed|fixed|succeeded, deployment.started|"
            "succeeded|failed (repeatable; default: failures, fixes, deployments).",
        ),
    ] = None,
) -> None:
    """Tell a chat (or an inbox) about this repository's pipelines and deployments."""
    if url == "-":
        url = sys.stdin.read().strip()
    body: dict[str, object] = {"name": name, "url": url}
    if on:
        body["kinds"] = on
    made = call("POST", f"/repos/{repo}/notifications", body)
    Console(highlight=False).print(
        f"notifying {escape(made['name'])} ({made['scheme']}) of {', '.join(made['kinds'])}"
    )


@notify_app.command("list")
def notify_list(repo: Repo) -> None:
    table = Table("#", "Name", "Kind", "Events", "Last error", show_edge=False,
                  header_style="bold")  # fmt: skip
    for target in call("GET", f"/repos/{repo}/notifications"):
        table.add_row(str(target["id"]), target["name"], target["scheme"],
                      ", ".join(target["kinds"]), target["last_error"][:60])  # fmt: skip
    Console().print(table)


@notify_app.command("remove")
def notify_remove(repo: Repo, target: Annotated[int, typer.Argument(help="Its #.")]) -> None:
    call("DELETE", f"/repos/{repo}/notifications/{target}")
    Console().print(f"removed notification target #{target}")


@statuses_app.command("add")
def statuses_add(
    repo: Repo,
    forge: Annotated[str, typer.Option("--forge", help="github, gitlab, bitbucket or gitea.")],
    project: Annotated[str, typer.Option("--project", help="owner/repo, or GitLab's path/id.")],
    token: Annotated[str, typer.Option("--token", help="An API token; - reads it from stdin.")],
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="A self-hosted forge's API base URL.")
    ] = None,
    context: Annotated[str, typer.Option("--context", help="The status's name.")] = "shipline",
) -> None:
    """Report this repository's pipelines to a forge as commit statuses."""
    if token == "-":
        token = sys.stdin.read().strip()
    made = call("POST", f"/repos/{repo}/commit-statuses", {
        "forge": forge, "project": project, "token": token, "base_url": base_url,
        "context": context,
    })  # fmt: skip
    Console(highlight=False).print(
        f"reporting commit statuses to {made['forge']} {escape(made['project'])}"
    )


@statuses_app.command("list")
def statuses_list(repo: Repo) -> None:
    table = Table("#", "Forge", "Project", "Base URL", "Context", "Last error", show_edge=False,
                  header_style="bold")  # fmt: skip
    for target in call("GET", f"/repos/{repo}/commit-statuses"):
        table.add_row(
            str(target["id"]),
            target["forge"],
            target["project"],
            target["base_url"] or "",
            target["context"],
            target["last_error"][:60],
        )
    Console().print(table)


@statuses_app.command("remove")
def statuses_remove(repo: Repo, target: Annotated[int, typer.Argument(help="Its #.")]) -> None:
    call("DELETE", f"/repos/{repo}/commit-statuses/{target}")
    Console().print(f"removed commit status target #{target}")
