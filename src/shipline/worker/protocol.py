"""What a worker and the server say to each other: the job, heartbeats, the report.

Plain, JSON-able dataclasses, so that the embedded client (direct calls) and a client over
HTTP carry exactly the same things.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Assignment:
    """One attempt of one step, as the server hands it to the worker that claimed it."""

    job_id: int  # the step's id on the server
    attempt: int
    token: str  # authenticates this worker for this attempt only
    pipeline_id: int
    repo: str
    build_number: int
    step_key: str
    commit: str
    event: dict[str, Any]  # shipline.plan.event_codec form
    pipeline_file: str  # bitbucket-pipelines.yml as committed
    source: str  # where to fetch the commit: a local path (embedded) or a git URL
    variables: dict[str, str] = field(default_factory=dict)
    secured: tuple[str, ...] = ()  # names among `variables` whose values are masked in logs
    # (pipeline id, step key) whose artifacts to restore, in order: a redeploy restores
    # those of the pipeline it repeats.
    artifacts: tuple[tuple[int, str], ...] = ()
    git_http_origin: str = ""
    pipeline_uuid: str = ""
    repo_uuid: str = ""
    heartbeat_seconds: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        data = dict(data)
        data["secured"] = tuple(data.get("secured", ()))
        data["artifacts"] = tuple((int(p), str(k)) for p, k in data.get("artifacts", ()))
        return cls(**data)


@dataclass(frozen=True)
class Heartbeat:
    """The server's answer to a heartbeat."""

    stop: bool = False  # cancel the step (pipeline stopped, fail-fast)
    lost: bool = False  # the lease is gone (expired, reassigned): kill the step, report nothing


@dataclass(frozen=True)
class StepReport:
    status: str  # a StepStatus value: passed, failed, cancelled
    reason: str = ""
    exit_code: int | None = None
    after_script_exit_code: int | None = None
    artifacts: tuple[str, ...] = ()


class WorkerClient(Protocol):
    """Everything a worker needs from the server. Raising ShiplineError means "not now"."""

    def claim(self, worker: str, wait_seconds: float) -> Assignment | None:
        """The next queued step attempt, now this worker's; None after `wait_seconds`."""
        ...

    def heartbeat(self, job: Assignment) -> Heartbeat: ...

    def append_log(self, job: Assignment, offset: int, data: bytes) -> None:
        """Add `data` at byte `offset` of the step's log (a resent chunk is ignored)."""
        ...

    def fetch_artifacts(
        self, job: Assignment, pipeline_id: int, step_key: str, into: Path
    ) -> Path | None:
        """A directory holding the artifacts `step_key` of that pipeline kept (under `into`
        if they had to be copied)."""
        ...

    def upload_artifacts(self, job: Assignment, store: Path) -> None:
        """Keep the files under `store` as this step's artifacts."""
        ...

    def report(self, job: Assignment, report: StepReport) -> None: ...

    def watch(self, job: Assignment, stop: Callable[[], None]) -> None:
        """Call `stop` as soon as the server wants the step stopped. A client that cannot
        hear the server between calls does nothing: heartbeats then carry the request."""
        ...

    def unwatch(self, job: Assignment) -> None: ...
