"""Render a plan for people (a tree) and for programs (JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from shipline.plan import NoPipeline, ParallelGroup, Plan, StageSpec, StepSpec


def _step_label(step: StepSpec) -> str:
    tags = []
    if step.manual:
        tags.append("[yellow]manual[/]")
    if step.deployment:
        tags.append(f"[magenta]deploy: {escape(step.deployment)}[/]")
    if step.image:
        tags.append(f"image {escape(step.image.name)}")
    if step.services:
        tags.append("services " + escape(", ".join(s.name for s in step.services)))
    if step.caches:
        tags.append("caches " + escape(", ".join(c.name for c in step.caches)))
    if step.artifacts.paths:
        tags.append("artifacts " + escape(", ".join(step.artifacts.paths)))
    if not step.artifacts.download:
        tags.append("no artifact download")
    if step.changesets:
        tags.append(
            "when changed: "
            + escape(", ".join(step.changesets.include_paths or step.changesets.exclude_paths))
        )
    tags.append(f"max {step.max_time_minutes} min")
    return f"[bold]{step.number}. {escape(step.name)}[/]  [dim]{' · '.join(tags)}[/]"


def plan_tree(plan: Plan) -> Tree:
    tree = Tree(f"[bold]pipeline {escape(plan.pipeline)}[/]")
    for item in plan.items:
        if isinstance(item, StepSpec):
            tree.add(_step_label(item))
        elif isinstance(item, ParallelGroup):
            ff = " (fail-fast)" if item.fail_fast else ""
            branch = tree.add(f"[cyan]parallel{ff}[/]")
            for step in item.steps:
                branch.add(_step_label(step))
        elif isinstance(item, StageSpec):
            extras = []
            if item.deployment:
                extras.append(f"deploy: {escape(item.deployment)}")
            if item.manual:
                extras.append("manual")
            suffix = f" [dim]({', '.join(extras)})[/]" if extras else ""
            branch = tree.add(f"[cyan]stage {escape(item.name)}[/]{suffix}")
            for step in item.steps:
                branch.add(_step_label(step))
    if plan.final is not None:
        tree.add("[cyan]final[/] " + _step_label(plan.final))
    return tree


MASK = "********"
# Image credentials: `aws` holds (key, value) pairs; an OIDC role name is not a secret.
_AWS_SECRETS = frozenset({"access-key", "secret-key"})


def _mask(value: Any) -> Any:
    """Hide credentials anywhere in asdict() output (whose nested sequences are tuples)."""
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            if key == "password" and item:
                masked[key] = MASK
            elif key == "aws" and isinstance(item, list | tuple):
                masked[key] = [
                    [name, MASK if name in _AWS_SECRETS and secret else secret]
                    for name, secret in item
                ]
            else:
                masked[key] = _mask(item)
        return masked
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def plan_json(plan: Plan | NoPipeline) -> dict[str, Any]:
    if isinstance(plan, NoPipeline):
        return {"pipeline": None, "reason": plan.reason, "event": dataclasses.asdict(plan.event)}
    data = dataclasses.asdict(plan)
    data["items"] = [
        {"kind": type(item).__name__, **dataclasses.asdict(item)} for item in plan.items
    ]
    return _mask(data)  # type: ignore[no-any-return]
