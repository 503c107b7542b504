"""Everything a pipeline run needs besides the plan and the executor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipline.run.environment import RunIdentity
from shipline.run.workspace import SourceRef


@dataclass(frozen=True)
class RunContext:
    source: SourceRef
    identity: RunIdentity
    run_dir: Path  # logs/, artifacts/ and transient steps/ of this run
    cache_dir: Path  # caches of this repository, shared across runs
    variables: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)  # name → value, masked in logs
    changed_files: tuple[str, ...] | None = None  # None: unknown, conditions hold
    run_manual: bool = False
    keep_workspaces: bool = False
    max_parallel: int = 10

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def artifact_dir(self) -> Path:
        return self.run_dir / "artifacts"
