"""From events to recorded pipelines: pushes, webhooks, manual and custom runs, reruns.

The plan is compiled from the pipeline file *at the commit* for the event; only the event is
stored (the worker and the orchestrator compile the same plan again: compiling is pure).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipline.config import DEFAULT_FILENAME, parse_text
from shipline.errors import GitError, PlanError, ShiplineError
from shipline.plan import Event, NoPipeline, Plan, compile_plan
from shipline.plan.event_codec import event_to_json
from shipline.run.git import changed_files, git
from shipline.server.deploys import environment
from shipline.server.plans import CompiledPipeline
from shipline.store.models import Pipeline, Repository, Step

ZERO = "0" * 40


class TriggerError(ShiplineError):
    """No pipeline can be started for this request; the message says why."""


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class TriggerResult:
    pipeline_id: int | None
    message: str  # one line for the pusher
    number: int | None = None
    compiled: CompiledPipeline | None = None  # to seed the plan cache with


def push_event(ref_type: str, ref_name: str, message: str) -> Event:
    if ref_type == "tag":
        return Event(tag=ref_name, commit_message=message)
    return Event(branch=ref_name, commit_message=message)


def parse_ref(ref: str) -> tuple[str, str] | None:
    """("branch", "main") for refs/heads/main, ("tag", "v1") for refs/tags/v1."""
    for prefix, ref_type in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return ref_type, ref.removeprefix(prefix)
    return None


def next_build_number(session: Session, repository_id: int) -> int:
    """Atomically take the repository's next build number (one UPDATE, no read first)."""
    session.execute(
        update(Repository)
        .where(Repository.id == repository_id)
        .values(last_build_number=Repository.last_build_number + 1)
    )
    number = session.scalar(
        select(Repository.last_build_number).where(Repository.id == repository_id)
    )
    assert number is not None
    return number


def compile_at(repo_dir: Path, commit: str, event: Event) -> CompiledPipeline | str:
    """The plan `event` selects at `commit`, or a sentence saying why there is none."""
    try:
        text = git(["show", f"{commit}:{DEFAULT_FILENAME}"], repo_dir)
    except GitError:
        return f"no {DEFAULT_FILENAME} in commit {commit[:12]}"
    parsed = parse_text(text)
    if not parsed.ok or parsed.file is None:
        first = parsed.errors[0].format().splitlines()[0] if parsed.errors else "invalid file"
        return f"{DEFAULT_FILENAME} is invalid: {first}"
    try:
        plan = compile_plan(parsed.file, event)
    except PlanError as exc:
        return str(exc)
    if isinstance(plan, NoPipeline):
        return f"no pipeline runs ({plan.reason})"
    assert isinstance(plan, Plan)
    base = event.pull_request.destination if event.pull_request else None
    changed = changed_files(repo_dir, commit, base)
    return CompiledPipeline(plan, text, tuple(changed) if changed is not None else None)


def record_pipeline(
    session: Session,
    repository: Repository,
    compiled: CompiledPipeline,
    *,
    commit: str,
    trigger: str,
    triggered_by: str,
    rerun_of: int | None = None,
) -> Pipeline:
    """Store a pipeline with its steps pending; the orchestrator moves it on."""
    plan = compiled.plan
    event = plan.event
    ref_type, ref_name = ("tag", event.tag) if event.tag else ("branch", event.branch or "")
    if event.pull_request is not None:
        ref_type, ref_name = "pull_request", event.pull_request.source
    pipeline = Pipeline(
        repository_id=repository.id,
        build_number=next_build_number(session, repository.id),
        trigger=trigger,
        ref_type=ref_type,
        ref_name=ref_name,
        commit=commit,
        pipeline_key=plan.pipeline,
        reason=plan.reason,
        status="pending",
        event=event_to_json(event),
        triggered_by=triggered_by,
        rerun_of=rerun_of,
    )
    pipeline.steps = [
        Step(step_key=step.id, number=step.number, name=step.name, status="pending")
        for step in plan.steps()
    ]
    session.add(pipeline)
    for name in dict.fromkeys(s.deployment for s in plan.steps() if s.deployment):
        environment(session, repository.id, name)  # on the board before its first deploy
    session.flush()
    return pipeline


def record_push(
    session: Session,
    repository: Repository,
    repo_dir: Path,
    update_: RefUpdate,
    base_url: str,
    *,
    trigger: str = "push",
    triggered_by: str = "",
) -> TriggerResult:
    """Create the pipeline one pushed ref asks for, or say why there is none."""
    if update_.new == ZERO:
        return TriggerResult(None, f"{update_.ref}: deleted, nothing to run")
    found = parse_ref(update_.ref)
    if found is None:
        return TriggerResult(None, f"{update_.ref}: not a branch or tag, nothing to run")
    ref_type, ref_name = found
    try:
        # An annotated tag points at a tag object: the pipeline runs on its commit.
        # One git process for both (each costs some 5 ms of the push's latency).
        shown = git(["log", "-1", "--format=%H%n%B", f"{update_.new}^{{commit}}", "--"], repo_dir)
        commit, _, message = shown.partition("\n")
    except GitError as exc:
        return TriggerResult(None, f"{ref_name}: cannot read the commit: {exc}")
    compiled = compile_at(repo_dir, commit, push_event(ref_type, ref_name, message))
    if isinstance(compiled, str):
        return TriggerResult(None, f"{ref_name}: {compiled}")
    pipeline = record_pipeline(
        session, repository, compiled, commit=commit, trigger=trigger,
        triggered_by=triggered_by,
    )  # fmt: skip
    number = pipeline.build_number
    url = f"{base_url}/api/v1/repos/{repository.name}/pipelines/{number}"
    name = compiled.plan.pipeline
    line = f"pipeline #{number} ({name}) for {ref_name}: {url}"
    return TriggerResult(pipeline.id, line, number, compiled)
