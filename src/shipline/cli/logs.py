"""`shipline logs REPO#N [STEP] [-f]`: print step logs, or follow them live (SSE)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import typer

from shipline.cli.client import call, error, find_step, parse_target, request, server_and_token

NOT_STARTED = ("pending", "queued")
NO_LOG = ("pending", "queued", "paused", "not run", "skipped")
OVER = ("passed", "failed", "cancelled", "paused")


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _sse(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream response."""
    event, data = "message", list[str]()
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _follow_step(repo: str, number: int, step: dict[str, Any]) -> None:
    server, token = server_and_token()
    url = f"{server}/api/v1/repos/{repo}/pipelines/{number}/steps/{step['key']}/log/stream"
    offset = 0
    for _ in range(30):  # reconnect where it stopped after a dropped connection
        try:
            with httpx.stream(
                "GET", url, params={"offset": offset},
                headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(60, read=90),
            ) as response:  # fmt: skip
                if response.status_code >= 400:
                    raise error(f"{response.status_code}: {response.read().decode()}")
                for event, data in _sse(response):
                    if event == "log":
                        _print(data["text"])
                        offset = int(data["offset"])
                    elif event == "end":
                        return
        except httpx.HTTPError:
            time.sleep(1)
    raise error(f"lost the log stream of {step['name']}")


def _wait_until_started(repo: str, number: int, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    while True:
        pipeline = call("GET", f"/repos/{repo}/pipelines/{number}")
        step = next(s for s in pipeline["steps"] if s["key"] == key)
        if step["status"] not in NOT_STARTED or pipeline["status"] in OVER:
            return pipeline, step
        time.sleep(0.3)


def logs(
    target: Annotated[str, typer.Argument(help="REPO#N, e.g. webshop#7.")],
    step: Annotated[
        str | None, typer.Argument(help="Step number, name or key (default: every step).")
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Stream the logs live until the pipeline ends or pauses."
        ),
    ] = False,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
) -> None:
    """Print the logs of a pipeline's steps. With -f, exit 0 when it passed (or paused at a
    manual step), 1 when it failed or was stopped."""
    repo, number = parse_target(target)
    pipeline = call("GET", f"/repos/{repo}/pipelines/{number}")
    chosen = [find_step(pipeline, step)] if step else pipeline["steps"]
    for item in chosen:
        if len(chosen) > 1:
            shown = "" if follow else f" ({item['status']})"
            _print(f"=== {item['number']}. {item['name']}{shown}\n")
        if follow:
            pipeline, item = _wait_until_started(repo, number, item["key"])
            if item["status"] not in NO_LOG:
                _follow_step(repo, number, item)
                pipeline = call("GET", f"/repos/{repo}/pipelines/{number}")
                item = next(s for s in pipeline["steps"] if s["key"] == item["key"])
            if len(chosen) > 1 or item["status"] in NO_LOG:
                note = f" — {item['reason']}" if item["reason"] else ""
                _print(f"--- {item['name']}: {item['status']}{note}\n")
            continue
        if item["status"] in NO_LOG:
            _print(f"(no log: the step is {item['status']})\n")
            continue
        params = {"tail": tail} if tail is not None else {}
        path = f"/repos/{repo}/pipelines/{number}/steps/{item['key']}/log"
        _print(request("GET", path, params=params).text)
    if follow:
        final = call("GET", f"/repos/{repo}/pipelines/{number}")
        _print(f"{repo}#{number}: {final['status']}\n")
        raise typer.Exit(0 if final["status"] in ("passed", "paused") else 1)
