"""`shipline vars set|list|delete`: repository variables (secured ones write-only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call

vars_app = typer.Typer(help="Repository variables.", no_args_is_help=True)


@vars_app.command("set")
def vars_set(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    name: Annotated[str, typer.Argument(help="Variable name.")],
    value: Annotated[
        str,
        typer.Argument(
            help="Its value; - reads it from standard input (keeps it out of your shell history)."
        ),
    ],
    secured: Annotated[
        bool, typer.Option("--secured", help="Encrypted at rest, masked in logs, never shown.")
    ] = False,
) -> None:
    """Create or change a variable."""
    if value == "-":
        value = sys.stdin.read().removesuffix("\n")
    found = call("PUT", f"/repos/{repo}/variables/{name}", {"value": value, "secured": secured})
    kind = "secured variable" if found["secured"] else "variable"
    Console(highlight=False).print(f"set {kind} {escape(found['name'])} of {escape(repo)}")


@vars_app.command("list")
def vars_list(repo: Annotated[str, typer.Argument(help="Repository name.")]) -> None:
    """List a repository's variables; secured values are never shown."""
    table = Table("Name", "Value", "Secured", "Updated", show_edge=False, header_style="bold")
    for variable in call("GET", f"/repos/{repo}/variables"):
        shown = "••••••" if variable["secured"] else variable["value"]
        table.add_row(
            variable["name"],
            shown,
            "yes" if variable["secured"] else "",
            variable["updated_at"][:19],
        )
    Console().print(table)


@vars_app.command("delete")
def vars_delete(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    name: Annotated[str, typer.Argument(help="Variable name.")],
) -> None:
    """Delete a variable."""
    call("DELETE", f"/repos/{repo}/variables/{name}")
    Console(highlight=False).print(f"deleted {escape(name)} of {escape(repo)}")
