"""The `shipline` command line."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipline import __version__
from shipline.cli.client import login
from shipline.cli.deploys import deploy, dora, envs, rollback
from shipline.cli.diagnostics import print_diagnostics
from shipline.cli.display import ConsoleDisplay, summary_table
from shipline.cli.integrations import notify_app, statuses_app
from shipline.cli.logs import logs
from shipline.cli.options import one_event, parse_pull_request, parse_variables
from shipline.cli.pipelines import cancel, pipelines, rerun, run_step, trigger
from shipline.cli.plan_render import plan_json, plan_tree
from shipline.cli.repos import repo_app
from shipline.cli.serve import admin_token, serve
from shipline.cli.users import token_app, user_app
from shipline.cli.variables import vars_app
from shipline.config import DEFAULT_FILENAME, load_file
from shipline.engine import PipelineEngine, PipelineStatus
from shipline.errors import ShiplineError
from shipline.local import LocalRequest, prepare
from shipline.plan import NoPipeline
from shipline.run.choice import choose_executor

app = typer.Typer(
    name="shipline",
    help="Self-hosted continuous delivery that runs bitbucket-pipelines.yml unchanged.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED = 0, 1, 2, 130

BranchOpt = Annotated[
    str | None,
    typer.Option(
        "--branch", "-b", help="Run as a push to this branch (default: the current branch)."
    ),
]
TagOpt = Annotated[str | None, typer.Option("--tag", "-t", help="Run as a push of this tag.")]
CustomOpt = Annotated[
    str | None, typer.Option("--custom", "-c", help="Run the custom pipeline with this name.")
]
PrOpt = Annotated[
    str | None,
    typer.Option("--pull-request", help="Run as a pull request SOURCE:DESTINATION[:ID]."),
]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", "-v", help="Variable NAME=VALUE (repeatable).")
]


def _version(value: bool) -> None:
    if value:
        print(f"shipline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Shipline: run your pipeline locally, or serve it to your team."""


@app.command()
def lint(
    path: Annotated[Path, typer.Argument(help="Pipeline file or repository directory.")] = Path(
        "."
    ),
) -> None:
    """Check a bitbucket-pipelines.yml; exit 0 when valid (warnings allowed), 2 when invalid."""
    file_path = path / DEFAULT_FILENAME if path.is_dir() else path
    result = load_file(file_path, str(file_path) if path != Path(".") else DEFAULT_FILENAME)
    print_diagnostics(result.diagnostics)
    if not result.ok:
        count = len(result.errors)
        print(f"{count} error{'s' * (count != 1)}", file=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    print(f"{file_path}: valid", file=sys.stderr)


@app.command()
def plan(
    branch: BranchOpt = None,
    tag: TagOpt = None,
    custom: CustomOpt = None,
    pull_request: PrOpt = None,
    var: VarOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    repo: Annotated[Path, typer.Option("--repo", help="Repository directory.")] = Path("."),
) -> None:
    """Show which pipeline an event runs, why, and its steps."""
    one_event(branch, tag, custom, pull_request)
    request = LocalRequest(
        repo=repo,
        branch=branch,
        tag=tag,
        custom=custom,
        pull_request=parse_pull_request(pull_request),
        variables=parse_variables(var),
    )
    console = Console(highlight=False, soft_wrap=True)
    try:
        local = prepare(request, dry_run=True)
    except ShiplineError as exc:
        _error_console().print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from exc
    print_diagnostics(local.parsed.diagnostics)
    if not local.parsed.ok or local.plan is None:
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        print(json.dumps(plan_json(local.plan), indent=2))
        return
    if isinstance(local.plan, NoPipeline):
        console.print(f"no pipeline runs: {escape(local.plan.reason)}")
        return
    console.print(
        f"[bold]{escape(local.plan.event.describe())}[/] → pipeline "
        f"[bold]{escape(local.plan.pipeline)}[/]"
    )
    console.print(f"why: {escape(local.plan.reason)}")
    console.print(plan_tree(local.plan), soft_wrap=False)


@app.command()
def run(
    branch: BranchOpt = None,
    tag: TagOpt = None,
    custom: CustomOpt = None,
    pull_request: PrOpt = None,
    var: VarOpt = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            "-e",
            help="auto: Docker for steps with an image when an engine answers, else this "
            "machine's shell; docker; shell.",
        ),
    ] = "auto",
    docker_host_daemon: Annotated[
        bool,
        typer.Option(
            "--docker-host-daemon",
            help="Give steps that use the docker service this machine's Docker daemon instead "
            "of one of their own (trusted repositories only).",
        ),
    ] = False,
    manual: Annotated[
        bool, typer.Option("--manual", help="Also run manual steps instead of pausing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not stream step logs.")] = False,
    keep: Annotated[bool, typer.Option("--keep-workspaces", help="Keep step workspaces.")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Where runs, logs and caches go (default: REPO/.shipline)."
        ),
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="Repository directory.")] = Path("."),
) -> None:
    """Run the pipeline for this repository locally. Exit 0 passed, 1 failed, 2 invalid file."""
    one_event(branch, tag, custom, pull_request)
    err = _error_console()
    request = LocalRequest(
        repo=repo,
        branch=branch,
        tag=tag,
        custom=custom,
        pull_request=parse_pull_request(pull_request),
        variables=parse_variables(var),
        data_dir=data_dir,
        run_manual=manual,
        keep_workspaces=keep,
    )
    try:
        local = prepare(request)
    except ShiplineError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from exc
    print_diagnostics(local.parsed.diagnostics)
    if not local.parsed.ok or local.plan is None:
        raise typer.Exit(EXIT_INVALID)
    if isinstance(local.plan, NoPipeline):
        err.print(f"nothing to run: {escape(local.plan.reason)}")
        raise typer.Exit(EXIT_PASSED)
    assert local.context is not None
    the_plan = local.plan
    try:
        chosen, executor_notes = choose_executor(executor, host_daemon=docker_host_daemon)
    except ShiplineError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from exc
    for note in [*local.notes, *executor_notes, *chosen.preflight(the_plan)]:
        err.print(f"[yellow]note:[/] {escape(note)}")
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"[bold]Pipeline #{local.context.identity.build_number}[/] "
        f"{escape(the_plan.pipeline)} for {escape(the_plan.event.describe())} "
        f"at {local.context.identity.commit[:12]}"
    )
    console.print(f"[dim]why: {escape(the_plan.reason)}[/]")
    display = ConsoleDisplay(console, the_plan, show_logs=not quiet)
    engine = PipelineEngine(the_plan, local.context, chosen, display)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_interrupt(signum: int, frame: object) -> None:
        # Steps run in sessions of their own (and containers), so the terminal's Ctrl-C does
        # not reach them: stop them here, and let the engine clean up.
        err.print("\n[yellow]stopping: cancelling running steps…[/]")
        engine.cancel()

    for sig in previous:
        signal.signal(sig, on_interrupt)
    try:
        with display:
            result = engine.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(summary_table(the_plan, result), soft_wrap=False)
    console.print(f"[dim]logs: {escape(str(local.context.log_dir))}[/]")
    if result.status is PipelineStatus.PAUSED and result.paused_before:
        step = the_plan.step(result.paused_before)
        console.print(
            f"[yellow]⏸ paused before manual step '{escape(step.name)}'.[/] "
            "Run again with [bold]--manual[/] to run manual steps too."
        )
    codes = {
        PipelineStatus.PASSED: EXIT_PASSED,
        PipelineStatus.PAUSED: EXIT_PASSED,
        PipelineStatus.FAILED: EXIT_FAILED,
        PipelineStatus.CANCELLED: EXIT_CANCELLED,
    }
    raise typer.Exit(codes[result.status])


def _error_console() -> Console:
    # soft_wrap: messages stay on one line in logs and pipes instead of breaking at 80 columns.
    return Console(stderr=True, highlight=False, soft_wrap=True)


app.command()(serve)
app.command("admin-token")(admin_token)
app.command()(login)
app.command()(pipelines)
app.command()(logs)
app.command()(trigger)
app.command()(cancel)
app.command()(rerun)
app.command("run-step")(run_step)
app.command()(deploy)
app.command()(rollback)
app.command()(envs)
app.command()(dora)
app.add_typer(repo_app, name="repo")
app.add_typer(vars_app, name="vars")
app.add_typer(notify_app, name="notify")
app.add_typer(statuses_app, name="statuses")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def main() -> None:
    app()
