"""Set up a pipeline run of the repository on this machine: no server involved."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from shipline.config import DEFAULT_FILENAME, ParseResult, load_file, parse_text
from shipline.engine import RunContext
from shipline.errors import GitError, ShiplineError
from shipline.plan import Event, NoPipeline, Plan, PullRequest, compile_plan
from shipline.run.environment import RunIdentity
from shipline.run.git import (
    changed_files,
    git,
    has_uncommitted_changes,
    head_commit,
    remote_identity,
)
from shipline.run.workspace import SourceRef

DATA_DIR_NAME = ".shipline"


@dataclass(frozen=True)
class LocalRequest:
    repo: Path
    branch: str | None = None
    tag: str | None = None
    custom: str | None = None
    pull_request: tuple[str, str, str] | None = None  # (id, source, destination)
    variables: tuple[tuple[str, str], ...] = ()
    revision: str = "HEAD"
    data_dir: Path | None = None
    run_manual: bool = False
    keep_workspaces: bool = False


@dataclass
class LocalRun:
    parsed: ParseResult
    plan: Plan | NoPipeline | None = None
    context: RunContext | None = None
    notes: list[str] = field(default_factory=list)


def ensure_data_dir(path: Path) -> Path:
    """Create the data directory with a .gitignore so git never picks it up."""
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Shipline's local data\n*\n")
    return path


def _next_build_number(data_dir: Path) -> int:
    counter = data_dir / "local" / "build-number"
    counter.parent.mkdir(parents=True, exist_ok=True)
    try:
        number = int(counter.read_text().strip()) + 1
    except (OSError, ValueError):
        number = 1
    tmp = counter.with_suffix(".tmp")
    tmp.write_text(str(number))
    os.replace(tmp, counter)
    return number


def committed_pipeline_file(repo: Path, commit: str) -> ParseResult:
    """The pipeline file as committed (what Bitbucket would run), not the working copy."""
    try:
        text = git(["show", f"{commit}:{DEFAULT_FILENAME}"], repo)
    except GitError:
        return load_file(repo / f"__missing__/{DEFAULT_FILENAME}", DEFAULT_FILENAME)
    return parse_text(text, DEFAULT_FILENAME)


def prepare(request: LocalRequest, *, dry_run: bool = False) -> LocalRun:
    """Parse the committed pipeline file, choose the pipeline and lay out the run directory.

    With `dry_run` nothing is written (no data directory, no build number): for `plan`.
    Raises ShiplineError (GitError, PlanError) for requests that cannot run at all.
    """
    repo = Path(git(["rev-parse", "--show-toplevel"], request.repo).strip())
    try:
        commit = head_commit(repo, request.revision)
    except GitError as exc:
        raise ShiplineError(f"{repo} has no commit to run ({exc}); commit your work first") from exc
    run = LocalRun(committed_pipeline_file(repo, commit.sha))
    if not run.parsed.ok or run.parsed.file is None:
        return run
    if has_uncommitted_changes(repo):
        run.notes.append(
            f"uncommitted changes are not part of this run: steps get commit {commit.sha[:12]}"
        )
    pr = PullRequest(*request.pull_request) if request.pull_request else None
    branch = request.branch
    if branch is None and request.tag is None and pr is None:
        branch = commit.branch
    event = Event(
        branch=branch,
        tag=request.tag,
        pull_request=pr,
        custom=request.custom,
        variables=request.variables,
        commit_message=commit.message,
    )
    run.plan = compile_plan(run.parsed.file, event)
    if isinstance(run.plan, NoPipeline) or dry_run:
        return run
    data_dir = ensure_data_dir(request.data_dir or repo / DATA_DIR_NAME)
    build_number = _next_build_number(data_dir)
    workspace, slug = remote_identity(repo)
    base = None
    if pr is not None:
        base = pr.destination
    changed = changed_files(repo, commit.sha, base)
    run.context = RunContext(
        source=SourceRef(
            repo,
            commit.sha,
            branch=pr.source if pr else branch,
            tag=request.tag,
            merge_branch=pr.destination if pr else None,
        ),
        identity=RunIdentity(
            commit=commit.sha,
            build_number=build_number,
            repo_slug=slug or repo.name,
            workspace=workspace or "local",
        ),
        run_dir=data_dir / "local" / "runs" / str(build_number),
        cache_dir=data_dir / "local" / "caches",
        variables=dict(request.variables),
        changed_files=tuple(changed) if changed is not None else None,
        run_manual=request.run_manual,
        keep_workspaces=request.keep_workspaces,
    )
    return run
