"""`shipline user add|list|role|remove` (admins) and `shipline token create|list|revoke`
(your own API tokens).

Passwords are read from standard input only (`--password -`; a prompt that does not echo
when it is a terminal), never from an argument that shell history and `ps` would show.
"""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call, error

user_app = typer.Typer(help="Users of the server and their roles (admins).", no_args_is_help=True)
token_app = typer.Typer(help="Your API tokens.", no_args_is_help=True)


class RoleName(enum.StrEnum):
    """The server's roles, each including the ones before it (the CLI does not import the
    database models)."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


Name = Annotated[str, typer.Argument(help="User name.")]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def read_password(source: str) -> str:
    """The password from standard input (`-`): its first line, or a hidden prompt, asked
    twice, when standard input is a terminal."""
    if source != "-":
        raise error("passwords are read from standard input only: use --password - < file")
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


@user_app.command("add")
def user_add(
    name: Name,
    role: Annotated[RoleName, typer.Option("--role", help="What they may do.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="- reads a password for the web UI from standard input (never an argument).",
        ),
    ] = None,
    token: Annotated[
        bool, typer.Option("--token", help="Also create their first API token (shown once).")
    ] = False,
) -> None:
    """Add a user; with --token, print an API token they can log in with."""
    body: dict[str, object] = {"name": name, "role": role.value, "token": token}
    if password is not None:
        body["password"] = read_password(password)
    made = call("POST", "/users", body)
    console = _console()
    with_password = " with a password" if made["has_password"] else ""
    console.print(f"added {escape(made['name'])} ({made['role']}){with_password}")
    if made.get("token"):
        console.print(f"API token (shown once): {made['token']}")


@user_app.command("list")
def user_list() -> None:
    """List the server's users."""
    table = Table("Name", "Role", "Password", "Created", show_edge=False, header_style="bold")
    for user in call("GET", "/users"):
        table.add_row(
            user["name"],
            user["role"],
            "yes" if user["has_password"] else "",
            user["created_at"][:19],
        )
    Console().print(table)


@user_app.command("role")
def user_role(name: Name, role: Annotated[RoleName, typer.Argument(help="The new role.")]) -> None:
    """Give a user another role (the last admin keeps theirs)."""
    changed = call("PATCH", f"/users/{name}", {"role": role.value})
    _console().print(f"{escape(changed['name'])} is now {changed['role']}")


@user_app.command("remove")
def user_remove(name: Name) -> None:
    """Delete a user and their API tokens (never the last admin)."""
    call("DELETE", f"/users/{name}")
    _console().print(f"removed {escape(name)} and their tokens")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help='What it is for, e.g. "laptop".')],
) -> None:
    """Create an API token of yours and print it, this once."""
    made = call("POST", "/me/tokens", {"name": name})
    console = _console()
    console.print(f"created token {made['id']} ({escape(made['name'])})")
    console.print(f"token (shown once): {made['token']}")


@token_app.command("list")
def token_list() -> None:
    """List your API tokens (never the tokens themselves)."""
    table = Table("ID", "Name", "Created", "Last used", show_edge=False, header_style="bold")
    for token in call("GET", "/me/tokens"):
        last = token["last_used_at"]
        table.add_row(
            str(token["id"]), token["name"], token["created_at"][:19], last[:16] if last else ""
        )
    Console().print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's ID.")]) -> None:
    """Revoke one of your API tokens; it stops working at once."""
    call("DELETE", f"/me/tokens/{token_id}")
    _console().print(f"revoked token {token_id}")
