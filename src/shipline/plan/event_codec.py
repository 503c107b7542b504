"""Events as JSON objects: the server stores them and hands them to workers, who compile the
same plan from the same file (compilation is pure, so a plan itself is never stored)."""

from __future__ import annotations

import json
from typing import Any

from shipline.plan.event import Event, PullRequest


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"commit_message": event.commit_message}
    for name in ("branch", "tag", "custom"):
        if (value := getattr(event, name)) is not None:
            data[name] = value
    if event.pull_request is not None:
        pr = event.pull_request
        data["pull_request"] = {"id": pr.id, "source": pr.source, "destination": pr.destination}
    if event.variables:
        data["variables"] = [[name, value] for name, value in event.variables]
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    pr = data.get("pull_request")
    return Event(
        branch=data.get("branch"),
        tag=data.get("tag"),
        custom=data.get("custom"),
        pull_request=PullRequest(str(pr["id"]), pr["source"], pr["destination"]) if pr else None,
        variables=tuple((str(n), str(v)) for n, v in data.get("variables", [])),
        commit_message=str(data.get("commit_message", "")),
    )


def event_to_json(event: Event) -> str:
    return json.dumps(event_to_dict(event), sort_keys=True)


def event_from_json(text: str) -> Event:
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        raise ValueError("an event is a JSON object")
    return event_from_dict(data)
