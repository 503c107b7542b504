"""`shipline vars set|list|delete`: repository variables (secured ones write-only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call

vars_app = typer.Typer(
    help="Repository variables, and deployment variables (--env) that override them.",
    no_args_is_help=True,
)
EnvOpt = Annotated[
    str | None, typer.Option("--env", help="A deployment environment's variables instead.")
]


def _base(repo: str, env: str | None) -> str:
    if env is None:
        return f"/repos/{repo}/variables"
    return f"/repos/{repo}/environments/{env}/variables"


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
    env: EnvOpt = None,
) -> None:
    """Create or change a variable (of one deployment environment with --env)."""
    if value == "-":
        value = sys.stdin.read().removesuffix("\n")
    body = {"value": value, "secured": secured}
    found = call("PUT", f"{_base(repo, env)}/{name}", body)
    kind = "secured variable" if found["secured"] else "variable"
    Console(highlight=False).print(f"set {kind} {escape(found['name'])} of {escape(repo)}")


@vars_app.command("list")
def vars_list(
    repo: Annotated[str, typer.Argument(help="Repository name.")], env: EnvOpt = None
) -> None:
    """List a repository's (or an environment's) variables; secured values are never shown."""
    table = Table("Name", "Value", "Secured", "Updated", show_edge=False, header_style="bold")
    for variable in call("GET", _base(repo, env)):
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
    env: EnvOpt = None,
) -> None:
    """Delete a variable."""
    call("DELETE", f"{_base(repo, env)}/{name}")
    Console(highlight=False).print(f"deleted {escape(name)} of {escape(repo)}")
