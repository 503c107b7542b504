"""Step and pipeline outcomes as the engine reports them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class StepStatus(enum.StrEnum):
    PENDING = "pending"  # not reached yet
    QUEUED = "queued"  # ready, waiting for a worker
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # its changeset condition did not hold
    PAUSED = "paused"  # a manual step waiting for a person
    NOT_RUN = "not run"  # an earlier step failed, or the pipeline stopped
    CANCELLED = "cancelled"


class PipelineStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass
class StepResult:
    status: StepStatus
    reason: str = ""
    exit_code: int | None = None
    after_script_exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log_path: Path | None = None
    artifacts: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass
class PipelineResult:
    status: PipelineStatus
    steps: dict[str, StepResult]
    paused_before: str | None = None  # id of the manual step the run stopped at
    duration: float = 0.0
