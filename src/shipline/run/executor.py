"""The executor contract every backend (shell, docker, fake) implements.

Lifecycle of one step, driven by the engine:

1. The engine creates the step's workspace (a fresh clone, artifacts and caches restored) —
   host files every executor shares — and builds a `StepJob`.
2. `prepare(job)`: backend-specific set-up (pull the image, start services). May raise
   ExecutorError; `destroy` must still be called.
3. `start(job, output)`: starts the script and returns a `RunningStep` at once, whose `ident`
   (pid or container id) lets a cancel find it. Output arrives through `output(bytes)` from
   the thread that calls `wait`.
4. `RunningStep.wait()`: runs the script, then the after-script (with BITBUCKET_EXIT_CODE),
   enforces `job.max_seconds` by killing everything the step started, and returns a
   `StepOutcome`. `cancel()` may be called from any thread.
5. The engine collects artifacts and saves caches from the workspace.
6. `destroy(job)`: removes whatever the backend created. Idempotent, safe after a failed
   prepare or start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shipline.plan import Plan, StepSpec
from shipline.run.workspace import StepDirs

OutputSink = Callable[[bytes], None]


@dataclass(frozen=True)
class StepJob:
    step: StepSpec
    dirs: StepDirs
    env: Mapping[str, str]
    max_seconds: float
    secrets: tuple[str, ...] = field(default=())
    log_path: Path | None = None  # the step's log; service logs go beside it

    def service_log_path(self, service: str) -> Path | None:
        if self.log_path is None:
            return None
        return self.log_path.with_name(f"{self.log_path.stem}.service-{service}.log")


@dataclass(frozen=True)
class StepOutcome:
    exit_code: int
    after_script_exit_code: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None  # the executor itself failed (image missing, cannot spawn...)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.cancelled or self.error)


class RunningStep(Protocol):
    @property
    def ident(self) -> str: ...

    def wait(self) -> StepOutcome: ...

    def cancel(self) -> None: ...


class Executor(Protocol):
    name: str

    def preflight(self, plan: Plan) -> list[str]:
        """Notes to print before running: what this executor cannot honour in the plan."""
        ...

    def mounts_absolute_paths(self, step: StepSpec) -> bool:
        """Can caches with absolute paths live in `job.dirs.absolute` for this step?"""
        ...

    def prepare(self, job: StepJob) -> None: ...

    def start(self, job: StepJob, output: OutputSink) -> RunningStep: ...

    def destroy(self, job: StepJob) -> None: ...
