"""A scripted executor for engine tests: each step's outcome is chosen by its name."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from shipline.plan import Plan, StepSpec
from shipline.run.executor import OutputSink, StepJob, StepOutcome


@dataclass(frozen=True)
class FakeBehaviour:
    exit_code: int = 0
    output: bytes = b""
    seconds: float = 0.0
    after_script_exit_code: int | None = None
    fail_prepare: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # written into the clone dir


@dataclass
class FakeStep:
    job: StepJob
    behaviour: FakeBehaviour
    output: OutputSink
    executor: FakeExecutor
    _cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def ident(self) -> str:
        return f"fake:{self.job.step.id}"

    def wait(self) -> StepOutcome:
        with self.executor.lock:
            self.executor.running += 1
            self.executor.max_running = max(self.executor.max_running, self.executor.running)
        try:
            for rel, text in self.behaviour.files.items():
                target = self.job.dirs.clone / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            if self.behaviour.output:
                self.output(self.behaviour.output)
            limit = min(self.behaviour.seconds, self.job.max_seconds)
            if self._cancelled.wait(limit):
                return StepOutcome(exit_code=143, cancelled=True)
            if self.behaviour.seconds > self.job.max_seconds:
                return StepOutcome(exit_code=137, timed_out=True)
            return StepOutcome(
                exit_code=self.behaviour.exit_code,
                after_script_exit_code=self.behaviour.after_script_exit_code,
            )
        finally:
            with self.executor.lock:
                self.executor.running -= 1

    def cancel(self) -> None:
        self._cancelled.set()


class FakeExecutor:
    """Records every call; steps not named in `behaviours` pass at once."""

    name = "fake"

    def __init__(self, behaviours: dict[str, FakeBehaviour] | None = None) -> None:
        self.behaviours = behaviours or {}
        self.calls: list[tuple[str, str]] = []
        self.jobs: dict[str, StepJob] = {}
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def preflight(self, plan: Plan) -> list[str]:
        return []

    def mounts_absolute_paths(self, step: StepSpec) -> bool:
        return False

    def _behaviour(self, job: StepJob) -> FakeBehaviour:
        return self.behaviours.get(job.step.name, FakeBehaviour())

    def prepare(self, job: StepJob) -> None:
        from shipline.errors import ExecutorError

        with self.lock:
            self.calls.append(("prepare", job.step.name))
            self.jobs[job.step.name] = job
        if message := self._behaviour(job).fail_prepare:
            raise ExecutorError(message)

    def start(self, job: StepJob, output: OutputSink) -> FakeStep:
        with self.lock:
            self.calls.append(("start", job.step.name))
        return FakeStep(job, self._behaviour(job), output, self)

    def destroy(self, job: StepJob) -> None:
        with self.lock:
            self.calls.append(("destroy", job.step.name))
