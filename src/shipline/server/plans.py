"""The plan of a recorded pipeline, compiled again from its commit and stored event.

Compiling is pure, so the database keeps only the event; this cache saves re-reading the
file from git and re-compiling it on every state change of a busy pipeline.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from shipline.config import DEFAULT_FILENAME, parse_text
from shipline.errors import PlanError
from shipline.plan import Plan, StageSpec, compile_plan
from shipline.plan.event_codec import event_from_json
from shipline.run.git import changed_files, git


@dataclass(frozen=True)
class CompiledPipeline:
    plan: Plan
    pipeline_file: str  # the text it was compiled from, for workers
    changed_files: tuple[str, ...] | None  # for condition.changesets; None: unknown


def only_item(plan: Plan, step_id: str, reason: str) -> Plan:
    """The plan cut down to the item holding `step_id` (a step, or its whole stage): what a
    redeploy or rollback runs again."""
    for item in plan.items:
        if isinstance(item, StageSpec) and any(s.id == step_id for s in item.steps):
            return replace(plan, items=(item,), final=None, reason=reason)
    return replace(plan, items=(plan.step(step_id),), final=None, reason=reason)


def compile_recorded(
    repo_dir: Path, commit: str, event_json: str, only_step: str | None = None
) -> CompiledPipeline:
    text = git(["show", f"{commit}:{DEFAULT_FILENAME}"], repo_dir)
    parsed = parse_text(text)
    if parsed.file is None:
        raise PlanError(f"{DEFAULT_FILENAME} at {commit[:12]} no longer parses")
    event = event_from_json(event_json)
    plan = compile_plan(parsed.file, event)
    if not isinstance(plan, Plan):
        raise PlanError(f"the recorded event selects no pipeline: {plan.reason}")
    if only_step is not None:
        plan = only_item(plan, only_step, f"runs again only the deployment of step {only_step}")
        return CompiledPipeline(plan, text, None)  # no changeset conditions: it ran before
    base = event.pull_request.destination if event.pull_request else None
    changed = changed_files(repo_dir, commit, base)
    return CompiledPipeline(plan, text, tuple(changed) if changed is not None else None)


class PlanCache:
    """Compiled pipelines by pipeline id, the most recently used few hundred kept."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[int, CompiledPipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        pipeline_id: int,
        repo_dir: Path,
        commit: str,
        event_json: str,
        only_step: str | None = None,
    ) -> CompiledPipeline:
        with self._lock:
            if pipeline_id in self._items:
                self._items.move_to_end(pipeline_id)
                return self._items[pipeline_id]
        compiled = compile_recorded(repo_dir, commit, event_json, only_step)
        with self._lock:
            self._items[pipeline_id] = compiled
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return compiled

    def put(self, pipeline_id: int, compiled: CompiledPipeline) -> None:
        with self._lock:
            self._items[pipeline_id] = compiled
