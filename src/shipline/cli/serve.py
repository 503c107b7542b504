"""`shipline serve`: the server on the embedded defaults (SQLite under ./.shipline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shipline import __version__


def serve(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the server keeps its data.")
    ] = Path(".shipline"),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="e.g. postgresql://user:pass@host/db (default: SQLite in the data directory).",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", help="Steps the embedded workers run at once (0: none).")
    ] = 4,
    executor: Annotated[
        str, typer.Option("--executor", help="auto, docker or shell, as for `shipline run`.")
    ] = "auto",
    lease_seconds: Annotated[
        float,
        typer.Option("--lease-seconds", help="A step whose worker is silent this long is lost."),
    ] = 30.0,
    retry_lost_steps: Annotated[
        int,
        typer.Option(
            "--retry-lost-steps", help="Run a lost step again this many times (never deploys)."
        ),
    ] = 0,
    artifact_days: Annotated[
        float,
        typer.Option(
            "--artifact-retention-days",
            help="Delete artifacts this many days after their pipeline (environments keep "
            "those of their last 10 deployments).",
        ),
    ] = 14.0,
) -> None:
    """Run the Shipline server. The first start prints a one-time admin token."""
    # Imported here: the client verbs should not pay for loading the whole server.
    import uvicorn

    from shipline.server.app import create_app, prepare_server
    from shipline.server.settings import ServerSettings

    if executor not in ("auto", "docker", "shell"):
        raise typer.BadParameter("auto, docker or shell", param_hint="--executor")
    settings = ServerSettings(
        data_dir.resolve(),
        database_url,
        host,
        port,
        executor=executor,
        workers=workers,
        lease_seconds=lease_seconds,
        heartbeat_seconds=max(0.2, min(5.0, lease_seconds / 4)),
        retry_lost_steps=retry_lost_steps,
        artifact_retention_days=artifact_days,
    )
    state, admin_token = prepare_server(settings)
    console = Console(highlight=False, soft_wrap=True)
    backend = state.db.engine.dialect.name
    console.print(
        f"Shipline {__version__} serving [bold]{settings.url}[/] "
        f"(data: {settings.data_dir}, database: {backend})"
    )
    console.print(f"API docs: {settings.url}/api/v1/docs")
    if admin_token:
        console.print("[yellow]First start: the admin token below is shown once; keep it.[/]")
        console.print(f"  admin token: [bold]{admin_token}[/]")
        console.print(f"  shipline login {settings.url} --token {admin_token}")
    uvicorn.run(create_app(state), host=host, port=port, log_level="warning")


def admin_token(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The server's data directory.")
    ] = Path(".shipline"),
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="The server's database (default: its SQLite)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "admin-token",
) -> None:
    """Issue a new admin token straight in the server's database (a lost first token, scripts).

    Run it on the server's machine: whoever can read the data directory is admin anyway.
    """
    from sqlalchemy import select

    from shipline.server.settings import ServerSettings
    from shipline.server.tokens import issue_token
    from shipline.store.db import Database
    from shipline.store.models import Role, User

    settings = ServerSettings(data_dir.resolve(), database_url)
    db = Database(settings.effective_database_url)
    db.migrate()
    with db.session() as session:
        admin = session.scalar(
            select(User).where(User.role == Role.ADMIN.value).order_by(User.id).limit(1)
        )
        if admin is None:
            admin = User(name="admin", role=Role.ADMIN.value)
            session.add(admin)
        token = issue_token(session, admin, name)
    db.dispose()
    print(token)
