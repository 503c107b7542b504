"""Pipeline verbs: `pipelines`, `trigger`, `cancel`, `rerun`, `run-step`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call, find_step, parse_target
from shipline.cli.options import parse_variables


def pipelines(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 20,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
) -> None:
    """List a repository's pipelines, newest first."""
    query = f"?limit={limit}" + (f"&branch={branch}" if branch else "")
    query += f"&status={status}" if status else ""
    table = Table(
        "#", "Status", "Ref", "Pipeline", "Commit", "Trigger", "Steps",
        show_edge=False, header_style="bold",
    )  # fmt: skip
    for pipeline in call("GET", f"/repos/{repo}/pipelines{query}"):
        steps = " ".join(f"{s['name']}:{s['status']}" for s in pipeline["steps"])
        table.add_row(
            str(pipeline["number"]),
            pipeline["status"],
            pipeline["ref_name"],
            pipeline["pipeline"],
            pipeline["commit"][:12],
            pipeline["trigger"],
            steps,
        )
    Console().print(table)


def _started(pipeline: dict[str, Any]) -> None:
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"{escape(pipeline['repo'])}#{pipeline['number']} ({escape(pipeline['pipeline'])}) "
        f"for {escape(pipeline['ref_name'])} at {pipeline['commit'][:12]}: {pipeline['status']}"
    )
    console.print(f"  {pipeline['url']}")
    console.print(f"  follow it: shipline logs {pipeline['repo']}#{pipeline['number']} -f")


def trigger(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    branch: Annotated[str | None, typer.Option("--branch", "-b", help="Branch to run.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="Tag to run.")] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="This commit (default: the newest).")
    ] = None,
    custom: Annotated[
        str | None, typer.Option("--custom", "-c", help="Run the custom pipeline with this name.")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", "-v", help="Variable NAME=VALUE (repeatable).")
    ] = None,
) -> None:
    """Start a pipeline by hand: a branch's or tag's, or a custom one with variables."""
    if branch is None and tag is None:
        branch = "main"
    body = {
        "branch": branch,
        "tag": tag,
        "commit": commit,
        "custom": custom,
        "variables": dict(parse_variables(var)),
    }
    _started(call("POST", f"/repos/{repo}/pipelines", body))


def cancel(target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")]) -> None:
    """Stop a pipeline: running steps are killed, the rest never start."""
    repo, number = parse_target(target)
    call("POST", f"/repos/{repo}/pipelines/{number}/cancel")
    Console().print(f"stopping {escape(target)}")


def rerun(
    target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")],
    all_steps: Annotated[
        bool, typer.Option("--all", help="A new pipeline for the same commit, every step.")
    ] = False,
) -> None:
    """Run a pipeline's failed steps again (or, with --all, the whole pipeline anew)."""
    repo, number = parse_target(target)
    _started(call("POST", f"/repos/{repo}/pipelines/{number}/rerun", {"all": all_steps}))


def run_step(
    target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")],
    step: Annotated[str, typer.Argument(help="The manual step: its number, name or key.")],
) -> None:
    """Run the manual step a pipeline is paused at."""
    repo, number = parse_target(target)
    found = find_step(call("GET", f"/repos/{repo}/pipelines/{number}"), step)
    call("POST", f"/repos/{repo}/pipelines/{number}/steps/{found['key']}/run")
    Console(highlight=False).print(f"running {escape(found['name'])} of {escape(target)}")
