"""Helpers shared by the bench_*.py scripts (not a benchmark itself): stdlib and shipline only."""

from __future__ import annotations

import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shipline.engine import PipelineEngine, PipelineResult, PipelineStatus, RunListener
from shipline.local import LocalRequest, prepare
from shipline.plan import Plan, StepSpec
from shipline.run.shell import ShellExecutor

GIT_IDENTITY = [
    "-c", "user.name=Shipline Bench", "-c", "user.email=bench@shipline.invalid",
    "-c", "commit.gpgsign=false",
]  # fmt: skip
SHIPLINE = Path(sys.executable).parent / "shipline"


def make_repo(path: Path, pipeline: str, files: dict[str, str] | None = None) -> Path:
    """A committed git repository at `path` holding `pipeline` (and `files`)."""
    path.mkdir(parents=True)
    (path / "bitbucket-pipelines.yml").write_text(pipeline)
    for rel, text in (files or {}).items():
        (path / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *GIT_IDENTITY, *args], cwd=path, check=True, capture_output=True)
    return path


@dataclass
class TimingListener(RunListener):
    """Discards output; keeps when each step started and finished (monotonic seconds)."""

    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    output_bytes: int = 0

    def step_started(self, step: StepSpec) -> None:
        self.started[step.id] = time.perf_counter()

    def step_output(self, step: StepSpec, data: bytes) -> None:
        self.output_bytes += len(data)

    def step_finished(self, step: StepSpec, result: object) -> None:
        self.finished[step.id] = time.perf_counter()

    def step_seconds(self) -> list[float]:
        return [self.finished[k] - self.started[k] for k in self.started if k in self.finished]


@dataclass
class EngineRun:
    prepare_seconds: float
    run_seconds: float
    result: PipelineResult
    plan: Plan
    log_dir: Path
    listener: TimingListener


def run_engine(repo: Path, data_dir: Path) -> EngineRun:
    """One in-process pipeline run: shipline.local.prepare, then PipelineEngine + ShellExecutor."""
    t0 = time.perf_counter()
    local = prepare(LocalRequest(repo=repo, data_dir=data_dir))
    t1 = time.perf_counter()
    plan, context = local.plan, local.context
    if not isinstance(plan, Plan) or context is None:
        raise SystemExit(f"benchmark pipeline cannot run: {local.parsed.diagnostics}")
    listener = TimingListener()
    result = PipelineEngine(plan, context, ShellExecutor(), listener).run()
    t2 = time.perf_counter()
    if result.status is not PipelineStatus.PASSED:
        raise SystemExit(f"benchmark pipeline did not pass: {result}")
    return EngineRun(t1 - t0, t2 - t1, result, plan, context.log_dir, listener)


def settle() -> None:
    """Write back dirty pages before timing, so earlier file activity does not leak in."""
    os.sync()


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def machine() -> str:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, {git}; "
        f"load average {load}"
    )


def spread(values: Sequence[float]) -> str:
    return f"{ms(min(values))}-{ms(max(values))}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, port: int, *extra: str
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """`shipline serve` on a fresh data directory: the process, its first admin token, and
    the lines it prints afterwards (read on a thread: a full pipe would stall the server)."""
    server = subprocess.Popen(
        [str(SHIPLINE), "serve", "--data-dir", str(data_dir), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert server.stdout is not None
    token = ""
    for line in server.stdout:
        if found := re.search(r"admin token: (shp_\S+)", line):
            token = found.group(1)
            break
    if not token:
        raise SystemExit("shipline serve printed no admin token")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(server.stdout or []), daemon=True).start()
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return server, token, lines
