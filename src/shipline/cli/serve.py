"""`shipline serve`: the server on the embedded defaults (SQLite under ./.shipline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from shipline import __version__
from shipline.server.app import create_app, prepare_server
from shipline.server.settings import ServerSettings


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
) -> None:
    """Run the Shipline server. The first start prints a one-time admin token."""
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
