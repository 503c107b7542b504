"""`shipline repo create|list`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call

repo_app = typer.Typer(help="Repositories on the server.", no_args_is_help=True)


@repo_app.command("create")
def repo_create(
    name: Annotated[str, typer.Argument(help="Repository name.")],
    remote: Annotated[
        str | None,
        typer.Option("--remote", help="Mirror this repository (GitHub, GitLab...) via webhooks."),
    ] = None,
) -> None:
    """Create a repository and print the URL to push to (and its webhook secret, once)."""
    repo = call("POST", "/repos", {"name": name, "remote_url": remote})
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"created {escape(repo['name'])}")
    console.print(f"push with: git remote add shipline {repo['clone_url']}")
    console.print("           git push shipline HEAD")
    if remote:
        console.print(f"mirrors {escape(remote)}; add a push webhook on the forge:")
        for forge, url in repo["webhook_urls"].items():
            console.print(f"  {forge:<9} {url}")
    console.print(f"webhook secret (shown once): {repo['webhook_secret']}")


@repo_app.command("list")
def repo_list() -> None:
    """List the server's repositories."""
    table = Table("Name", "Clone URL", "Mirrors", "Created", show_edge=False, header_style="bold")
    for repo in call("GET", "/repos"):
        table.add_row(
            repo["name"], repo["clone_url"], repo.get("remote_url") or "", repo["created_at"][:19]
        )
    Console().print(table)
