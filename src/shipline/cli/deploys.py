"""Delivery verbs: `deploy`, `rollback`, `envs`, `dora`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shipline.cli.client import call, error, find_step, parse_target


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


def deploy(
    target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")],
    step: Annotated[
        str | None,
        typer.Argument(
            help="The deployment step (number, name or key); default: the one the "
            "pipeline is paused at."
        ),
    ] = None,
) -> None:
    """Promote: run a paused deployment step (needs the deployer role)."""
    repo, number = parse_target(target)
    pipeline = call("GET", f"/repos/{repo}/pipelines/{number}")
    if step is not None:
        found = find_step(pipeline, step)
    else:
        paused = [s for s in pipeline["steps"] if s["status"] == "paused"]
        if not paused:
            raise error(f"{target} is {pipeline['status']}: no step waits to be deployed")
        found = paused[0]
    call("POST", f"/repos/{repo}/pipelines/{number}/steps/{found['key']}/run")
    Console(highlight=False).print(
        f"deploying: {escape(found['name'])} of {escape(target)} "
        f"(follow: shipline logs {target} {found['number']} -f)"
    )


def rollback(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    environment: Annotated[str, typer.Argument(help="e.g. production.")],
    to: Annotated[
        int | None, typer.Option("--to", help="A deployment id (default: the one before).")
    ] = None,
) -> None:
    """Deploy an earlier successful deployment again, with its artifacts and variables."""
    pipeline = call("POST", f"/repos/{repo}/environments/{environment}/rollback", {"to": to})
    target = f"{repo}#{pipeline['number']}"
    Console(highlight=False).print(
        f"rolling {escape(environment)} back to {pipeline['commit'][:12]}: "
        f"{escape(target)} (follow: shipline logs {escape(target)} -f)"
    )


def _deployment_row(d: dict[str, Any] | None) -> list[str]:
    if d is None:
        return ["—", "", "", "", ""]
    return [d["commit"][:12], f"#{d['pipeline']}", d["kind"], d["triggered_by"],
            _when(d["finished_at"] or d["started_at"])]  # fmt: skip


def envs(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    environment: Annotated[str | None, typer.Argument(help="One environment: its history.")] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option("--compare", help="FROM TO: what TO would gain from FROM."),
    ] = None,
) -> None:
    """What runs where: each environment's current deployment and what waits for it."""
    console = Console(highlight=False, soft_wrap=True)
    if compare is not None:
        source, target = compare
        diff = call("GET", f"/repos/{repo}/compare?from={source}&to={target}")
        commits = diff["commits"]
        console.print(
            f"{escape(target)} would gain {len(commits)} commit(s) from {escape(source)}:"
        )
        for commit in commits:
            console.print(f"  {commit['sha'][:12]} {escape(commit['subject'])} "
                          f"[dim]({escape(commit['author'])})[/]")  # fmt: skip
        return
    if environment is not None:
        env = call("GET", f"/repos/{repo}/environments/{environment}?history=20")
        table = Table("#", "Status", "Commit", "Pipeline", "Kind", "By", "When", "Note",
                      show_edge=False, header_style="bold")  # fmt: skip
        for d in env["history"]:
            table.add_row(str(d["id"]), d["status"], d["commit"][:12], f"#{d['pipeline']}",
                          d["kind"], d["triggered_by"], _when(d["finished_at"] or d["queued_at"]),
                          d["reason"][:60])  # fmt: skip
        console.print(table)
        return
    table = Table("Environment", "Runs", "Pipeline", "Kind", "By", "When", "Waiting",
                  show_edge=False, header_style="bold")  # fmt: skip
    for env in call("GET", f"/repos/{repo}/environments"):
        waiting = ", ".join(f"#{d['pipeline']} {d['status']}" for d in env["waiting"])
        table.add_row(env["name"], *_deployment_row(env["current"]), waiting)
    console.print(table)


def dora(
    repo: Annotated[str, typer.Argument(help="Repository name.")],
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date or datetime (default: 30 days ago).")
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--env", help="Default: the production environment.")
    ] = None,
) -> None:
    """The four DORA keys: deployment frequency, lead time, change failure rate, restore time."""
    query = "&".join(f"{k}={v}" for k, v in (("since", since), ("environment", environment)) if v)
    report = call("GET", f"/repos/{repo}/dora" + (f"?{query}" if query else ""))

    def hours(seconds: float | None) -> str:
        return "—" if seconds is None else f"{seconds / 3600:.1f} h"

    rate = report["change_failure_rate"]
    console = Console(highlight=False)
    console.print(f"{escape(repo)} → {escape(report['environment'])}, "
                  f"{_when(report['since'])} to {_when(report['until'])}")  # fmt: skip
    console.print(f"  deployments:          {report['deployments']} "
                  f"({report['deployment_frequency_per_day']:.2f} a day)")  # fmt: skip
    console.print(f"  lead time (median):   {hours(report['lead_time_median_seconds'])}"
                  f"   (p90 {hours(report['lead_time_p90_seconds'])})")  # fmt: skip
    console.print("  change failure rate:  " + ("—" if rate is None else f"{rate:.0%}")
                  + f"   ({report['failed_changes']} failed)")  # fmt: skip
    console.print(f"  time to restore:      {hours(report['time_to_restore_median_seconds'])}"
                  f"   ({report['restores']} restored)")  # fmt: skip
