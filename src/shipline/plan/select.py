"""Choose the pipeline for an event, with Bitbucket's precedence, and say why."""

from __future__ import annotations

from dataclasses import dataclass

from shipline.config.bitbucket.model import Pipeline, Pipelines
from shipline.config.suggest import did_you_mean
from shipline.errors import PlanError
from shipline.plan.event import Event
from shipline.plan.globs import best_match


@dataclass(frozen=True)
class Selection:
    key: str  # "default", "branches.<pattern>", "tags.<pattern>", "custom.<name>", ...
    pipeline: Pipeline
    reason: str


def _also(matched: list[str], winner: str) -> str:
    others = [p for p in matched if p != winner]
    return f"; also matched {', '.join(repr(p) for p in others)}" if others else ""


def _pick(name: str, section: dict[str, Pipeline], label: str, what: str) -> Selection | None:
    winner, matched = best_match(name, list(section))
    if winner is None:
        return None
    if winner == name:
        why = f"{what} '{name}' has its own pipeline (an exact name beats every pattern)"
    else:
        why = (
            f"{what} '{name}' matches pattern '{winner}', the most specific one"
            f"{_also(matched, winner)}"
        )
    return Selection(f"{label}.{winner}", section[winner], why)


def select_pipeline(pipelines: Pipelines, event: Event) -> Selection | str:
    """Return the chosen pipeline, or a sentence saying why nothing runs."""
    if event.custom is not None:
        if event.custom not in pipelines.custom:
            hint = did_you_mean(event.custom, pipelines.custom)
            names = ", ".join(sorted(pipelines.custom)) or "none defined"
            raise PlanError(
                f"no custom pipeline named '{event.custom}' ({hint or 'available: ' + names})"
            )
        return Selection(
            f"custom.{event.custom}",
            pipelines.custom[event.custom],
            f"custom pipeline '{event.custom}' was requested by name",
        )
    if event.skip_requested:
        return "the commit message contains [skip ci] or [ci skip]"
    if event.pull_request is not None:
        return _select_pull_request(pipelines, event)
    if event.tag is not None:
        chosen = _pick(event.tag, pipelines.tags, "tags", "tag")
        return chosen or f"no pipeline under 'tags' matches tag '{event.tag}'"
    if event.branch is not None:
        chosen = _pick(event.branch, pipelines.branches, "branches", "branch")
        if chosen:
            return chosen
    if pipelines.default is not None:
        where = f"branch '{event.branch}'" if event.branch else "this push"
        return Selection(
            "default", pipelines.default, f"no branch pipeline matches {where}, so 'default' runs"
        )
    return f"no pipeline matches {event.describe()} and there is no 'default' pipeline"


def _select_pull_request(pipelines: Pipelines, event: Event) -> Selection | str:
    pr = event.pull_request
    assert pr is not None
    winner, matched = best_match(pr.source, list(pipelines.pull_requests))
    if winner is None:
        return f"no pipeline under 'pull-requests' matches source branch '{pr.source}'"
    entry = pipelines.pull_requests[winner]
    why = f"pull request from '{pr.source}' matches '{winner}'{_also(matched, winner)}"
    if entry.pipeline is not None:
        return Selection(f"pull-requests.{winner}", entry.pipeline, why)
    dest = _pick(pr.destination, entry.destinations, "destinations", "destination branch")
    if dest is None:
        return f"{why}, but none of its destinations matches '{pr.destination}'"
    return Selection(f"pull-requests.{winner}.{dest.key}", dest.pipeline, f"{why}; {dest.reason}")
