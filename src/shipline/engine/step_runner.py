"""Run one step end to end: workspace, artifacts and caches in, executor lifecycle, results out."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from shipline.engine.context import RunContext
from shipline.engine.listener import RunListener
from shipline.engine.results import StepResult, StepStatus
from shipline.errors import ShiplineError
from shipline.plan import Plan, StepSpec
from shipline.run import artifacts as artifact_files
from shipline.run.caches import CacheLocation, CacheStore, cache_key, resolve_target
from shipline.run.environment import braced_uuid, step_environment
from shipline.run.executor import Executor, RunningStep, StepJob, StepOutcome
from shipline.run.masking import SecretMasker
from shipline.run.workspace import StepDirs, WorkspaceFactory


class LogSink(Protocol):
    """Where a step's log goes: a file for local runs, the server for workers."""

    def write(self, data: bytes, /) -> object: ...

    def close(self) -> None: ...


LogOpener = Callable[[StepSpec, Path], LogSink]


def open_log_file(step: StepSpec, path: Path) -> LogSink:
    return open(path, "wb", buffering=0)


class _MaskedLog:
    """The step's log with secured values masked before anyone sees them (log, listener)."""

    def __init__(self, sink: LogSink, secrets: Mapping[str, str]) -> None:
        self.sink = sink
        self.masker = SecretMasker(secrets)
        self._lock = threading.Lock()  # output and Shipline's own messages come from 2 threads

    def write(self, data: bytes) -> bytes:
        """Log `data`; returns what was written (masked; may hold back a partial secret)."""
        with self._lock:
            if self.masker.active:
                data = self.masker.feed(data)
            if data:
                self.sink.write(data)
        return data

    def close(self) -> bytes:
        with self._lock:
            tail = self.masker.flush() if self.masker.active else b""
            if tail:
                self.sink.write(tail)
            self.sink.close()
        return tail


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "step"


class StepRunner:
    """Runs steps of one pipeline run; safe to use from several threads at once."""

    def __init__(
        self,
        plan: Plan,
        context: RunContext,
        executor: Executor,
        listener: RunListener,
        workspaces: WorkspaceFactory,
        open_log: LogOpener = open_log_file,
    ) -> None:
        self.plan = plan
        self.open_log = open_log
        self.context = context
        self.executor = executor
        self.listener = listener
        self.workspaces = workspaces
        self.caches = CacheStore(context.cache_dir)
        self._running: dict[str, RunningStep] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def cancel(self, step_id: str) -> None:
        with self._lock:
            self._cancelled.add(step_id)
            running = self._running.get(step_id)
        if running is not None:
            running.cancel()

    def log_path(self, step: StepSpec) -> Path:
        return self.context.log_dir / f"{step.number:02d}-{_slug(step.name)}.log"

    def run(self, step: StepSpec, artifact_stores: list[Path]) -> StepResult:
        result = StepResult(
            StepStatus.RUNNING, started_at=time.time(), log_path=self.log_path(step)
        )
        self.context.log_dir.mkdir(parents=True, exist_ok=True)
        self.listener.step_started(step)
        assert result.log_path is not None
        log = _MaskedLog(self.open_log(step, result.log_path), self.context.secrets)
        try:
            outcome = self._run_logged(step, artifact_stores, log, result)
        finally:
            if tail := log.close():
                self.listener.step_output(step, tail)
        result.finished_at = time.time()
        result.exit_code = outcome.exit_code
        result.after_script_exit_code = outcome.after_script_exit_code
        result.status, result.reason = self._verdict(step, outcome)
        self.listener.step_finished(step, result)
        return result

    def _verdict(self, step: StepSpec, outcome: StepOutcome) -> tuple[StepStatus, str]:
        if outcome.error:
            return StepStatus.FAILED, outcome.error
        if outcome.cancelled:
            return StepStatus.CANCELLED, "stopped"
        if outcome.timed_out:
            minutes = step.max_time_minutes
            return StepStatus.FAILED, (
                f"timed out: exceeded max-time of {minutes} minute{'s' * (minutes != 1)}"
            )
        if outcome.exit_code != 0:
            return StepStatus.FAILED, f"script exited with code {outcome.exit_code}"
        return StepStatus.PASSED, ""

    def _run_logged(
        self, step: StepSpec, artifact_stores: list[Path], log: _MaskedLog, result: StepResult
    ) -> StepOutcome:
        def output(data: bytes) -> None:
            if data := log.write(data):
                self.listener.step_output(step, data)

        def message(text: str) -> None:
            output(f"[shipline] {text}\n".encode())

        dirs: StepDirs | None = None
        job: StepJob | None = None
        try:
            dirs = self.workspaces.create(step.id, step.clone)
            if step.artifacts.download and artifact_stores:
                count = artifact_files.restore(artifact_stores, dirs.clone)
                if count:
                    message(f"artifacts: restored {count} file(s) from earlier steps")
            locations = self._cache_locations(step, dirs, message)
            for location in locations:
                restored = self.caches.restore(location)
                message(f"cache {location.spec.name}: {'restored' if restored else 'empty'}")
            env = dict(self.context.variables)
            env.update(self.plan.variables)
            env.update(step_environment(self.plan, step, self.context.identity, braced_uuid()))
            job = StepJob(step, dirs, env, step.max_time_minutes * 60.0, log_path=result.log_path)
            with self._lock:
                if step.id in self._cancelled:
                    return StepOutcome(exit_code=130, cancelled=True)
            self.executor.prepare(job)
            running = self.executor.start(job, output)
            with self._lock:
                self._running[step.id] = running
                cancelled_early = step.id in self._cancelled
            if cancelled_early:
                running.cancel()
            outcome = running.wait()
            if outcome.timed_out:
                message(
                    f"step exceeded its max-time of {step.max_time_minutes} minute(s); "
                    "every process it started was killed"
                )
            if step.artifacts.paths:
                store = self.context.artifact_dir / step.id
                result.artifacts = artifact_files.collect(dirs.clone, step.artifacts.paths, store)
                message(f"artifacts: kept {len(result.artifacts)} file(s)")
            if outcome.passed:
                for location in locations:
                    message(f"cache {location.spec.name}: {self.caches.save(location)}")
            elif locations:
                message("caches not saved: the step did not succeed")
            return outcome
        except (ShiplineError, OSError) as exc:  # OSError: host files (disk full...)
            message(f"error: {exc}")
            return StepOutcome(exit_code=1, error=str(exc))
        finally:
            with self._lock:
                self._running.pop(step.id, None)
            if job is not None:
                self.executor.destroy(job)
            if dirs is not None and not self.context.keep_workspaces:
                self.workspaces.destroy(dirs)

    def _cache_locations(
        self, step: StepSpec, dirs: StepDirs, message: Callable[[str], None]
    ) -> list[CacheLocation]:
        locations = []
        absolute_root = dirs.absolute if self.executor.mounts_absolute_paths(step) else None
        for spec in step.caches:
            if spec.name == "docker":
                message(
                    "cache docker: Docker layer caching is not supported; "
                    "each step's Docker daemon starts with no images"
                )
                continue
            target = resolve_target(spec, dirs.clone, dirs.home, absolute_root)
            if target is None:
                message(f"cache {spec.name}: absolute path {spec.path} is skipped on this executor")
                continue
            locations.append(CacheLocation(spec, cache_key(spec, dirs.clone), target))
        return locations
