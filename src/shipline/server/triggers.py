"""From pushed refs to recorded pipelines: the plan is compiled from the pushed commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipline.config import DEFAULT_FILENAME, parse_text
from shipline.errors import GitError, PlanError
from shipline.plan import Event, NoPipeline, compile_plan
from shipline.run.git import git
from shipline.store.models import Pipeline, Repository, Step

ZERO = "0" * 40


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


@dataclass(frozen=True)
class TriggerResult:
    pipeline_id: int | None
    message: str  # one line for the pusher


def push_event(ref_type: str, ref_name: str, message: str) -> Event:
    """The event a recorded push stands for (also rebuilt by the worker from the record)."""
    if ref_type == "tag":
        return Event(tag=ref_name, commit_message=message)
    return Event(branch=ref_name, commit_message=message)


def _event_for(ref: str, message: str) -> tuple[str, str, Event] | None:
    for prefix, ref_type in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            name = ref.removeprefix(prefix)
            return ref_type, name, push_event(ref_type, name, message)
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


def record_push(
    session: Session, repository: Repository, repo_dir: Path, update_: RefUpdate, base_url: str
) -> TriggerResult:
    """Create the pipeline one pushed ref asks for, or say why there is none."""
    if update_.new == ZERO:
        return TriggerResult(None, f"{update_.ref}: deleted, nothing to run")
    try:
        message = git(["log", "-1", "--format=%B", update_.new], repo_dir)
    except GitError as exc:
        return TriggerResult(None, f"{update_.ref}: cannot read the commit: {exc}")
    found = _event_for(update_.ref, message)
    if found is None:
        return TriggerResult(None, f"{update_.ref}: not a branch or tag, nothing to run")
    ref_type, ref_name, event = found
    try:
        text = git(["show", f"{update_.new}:{DEFAULT_FILENAME}"], repo_dir)
    except GitError:
        return TriggerResult(None, f"{ref_name}: no {DEFAULT_FILENAME} in this commit")
    parsed = parse_text(text)
    if not parsed.ok or parsed.file is None:
        first = parsed.errors[0].format().splitlines()[0] if parsed.errors else "invalid file"
        return TriggerResult(None, f"{ref_name}: {DEFAULT_FILENAME} is invalid: {first}")
    try:
        plan = compile_plan(parsed.file, event)
    except PlanError as exc:
        return TriggerResult(None, f"{ref_name}: {exc}")
    if isinstance(plan, NoPipeline):
        return TriggerResult(None, f"{ref_name}: no pipeline runs ({plan.reason})")
    number = next_build_number(session, repository.id)
    pipeline = Pipeline(
        repository_id=repository.id,
        build_number=number,
        trigger="push",
        ref_type=ref_type,
        ref_name=ref_name,
        commit=update_.new,
        pipeline_key=plan.pipeline,
        reason=plan.reason,
        status="pending",
    )
    pipeline.steps = [
        Step(step_key=step.id, number=step.number, name=step.name, status="pending")
        for step in plan.steps()
    ]
    session.add(pipeline)
    session.flush()
    url = f"{base_url}/api/v1/repos/{repository.name}/pipelines/{number}"
    return TriggerResult(pipeline.id, f"pipeline #{number} ({plan.pipeline}) for {ref_name}: {url}")
