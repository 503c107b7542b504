"""The pipeline graph: the plan's items as columns — a step, a parallel group, a stage, the
final step — each node carrying its step's live state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipline.plan import ParallelGroup, Plan, StageSpec, StepSpec


@dataclass(frozen=True)
class Node:
    key: str
    number: int
    name: str
    status: str
    reason: str
    attempt: int
    manual: bool
    deployment: str | None
    started_at: Any
    finished_at: Any
    approved_by: str | None
    artifact_count: int


@dataclass(frozen=True)
class Column:
    kind: str  # "step", "parallel", "stage", "final"
    label: str  # "" for a single step
    nodes: tuple[Node, ...]
    manual: bool = False  # a manual stage
    deployment: str | None = None


def _node(step: StepSpec, rows: Mapping[str, Any]) -> Node:
    row = rows.get(step.id)
    return Node(
        key=step.id,
        number=step.number,
        name=step.name,
        status=row.status if row is not None else "pending",
        reason=row.reason if row is not None else "",
        attempt=row.attempt if row is not None else 1,
        manual=step.manual,
        deployment=step.deployment,
        started_at=row.started_at if row is not None else None,
        finished_at=row.finished_at if row is not None else None,
        approved_by=row.approved_by if row is not None else None,
        artifact_count=row.artifact_count if row is not None else 0,
    )


def pipeline_graph(plan: Plan, rows: Mapping[str, Any]) -> list[Column]:
    """`rows`: the pipeline's step rows by step key."""
    columns: list[Column] = []
    for item in plan.items:
        if isinstance(item, StepSpec):
            columns.append(Column("step", "", (_node(item, rows),)))
        elif isinstance(item, ParallelGroup):
            nodes = tuple(_node(s, rows) for s in item.steps)
            label = "parallel" + (" · fail-fast" if item.fail_fast else "")
            columns.append(Column("parallel", label, nodes))
        elif isinstance(item, StageSpec):
            nodes = tuple(_node(s, rows) for s in item.steps)
            columns.append(
                Column("stage", item.name, nodes, manual=item.manual, deployment=item.deployment)
            )
    if plan.final is not None:
        columns.append(Column("final", "final", (_node(plan.final, rows),)))
    return columns


def fingerprint(pipeline: Any, steps: list[Any]) -> str:
    """Changes whenever anything the page shows about the run changes."""
    parts = [pipeline.status, str(pipeline.stop_requested)]
    parts += [f"{s.step_key}:{s.status}:{s.attempt}:{s.approved_by}" for s in steps]
    return "|".join(parts)
