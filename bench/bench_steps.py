"""Per-step overhead: 10 `echo` steps run by Shipline vs 10 bare `bash -c 'echo ...'` runs.

Shipline runs in-process (shipline.local.prepare + PipelineEngine + ShellExecutor, output
discarded by the listener) on a small real git repository, so every step gets what a real run
gives it: a fresh workspace copied from a clone of the commit, rendered scripts, a supervised
process group, a log file. The baseline starts the same commands with plain subprocess.run.
Target: at most 10 ms of overhead per step, fresh workspace included.

The same pipeline through the console script (`shipline run -q`, interpreter start included)
is measured for information.

    .venv/bin/python bench/bench_steps.py [--quick] [--repeats N] [--profile | --breakdown]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import (
    SHIPLINE,
    machine,
    make_repo,
    median,
    ms,
    run_engine,
    settle,
    spread,
    table,
    timed,
    verdict,
)

from shipline.run import shell, workspace

STEPS = 10
TARGET_MS = 10.0


def pipeline(steps: int) -> str:
    body = "".join(
        f"    - step:\n        name: Step {i}\n        script:\n          - echo step {i}\n"
        for i in range(1, steps + 1)
    )
    return f"pipelines:\n  default:\n{body}"


def bare_commands(steps: int) -> None:
    for i in range(1, steps + 1):
        subprocess.run(
            ["bash", "-c", f"echo step {i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=True,
        )


def cli_run(repo: Path, data_dir: Path) -> None:
    subprocess.run(
        [str(SHIPLINE), "run", "-q", "--data-dir", str(data_dir)],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        check=True,
    )


def cli_start() -> None:
    subprocess.run([str(SHIPLINE), "--version"], stdout=subprocess.DEVNULL, check=True)


def profile(repo: Path, data_dir: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run_engine(repo, data_dir)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    print(out.getvalue())


@contextmanager
def phase_timers() -> Iterator[dict[str, list[float]]]:
    """Time the phases of each step by wrapping the methods that perform them."""
    times: dict[str, list[float]] = defaultdict(list)
    targets: list[tuple[Any, str, str]] = [
        (workspace.WorkspaceFactory, "create", "workspace: fresh copy of the clone"),
        (shell.ShellExecutor, "prepare", "executor.prepare: write scripts"),
        (shell.ShellExecutor, "start", "executor.start: spawn bash"),
        (shell.ShellStep, "wait", "wait: script runs, output read"),
        (workspace.WorkspaceFactory, "destroy", "workspace: remove"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]

    def timer(original: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times[label].append(time.perf_counter() - start)

        return timed_call

    for owner, name, label in targets:
        setattr(owner, name, timer(getattr(owner, name), label))
    try:
        yield times
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def breakdown(repo: Path, data_dir: Path, repeats: int) -> None:
    """Median time of each phase of a step (steps after the first of each run)."""
    phases: dict[str, list[float]] = defaultdict(list)
    whole: list[float] = []
    for _ in range(repeats):
        settle()
        with phase_timers() as times:
            run = run_engine(repo, data_dir)
        for label, values in times.items():
            phases[label].extend(values[1:])
        whole.extend(run.listener.step_seconds()[1:])
    rows = [[label, ms(median(values))] for label, values in phases.items()]
    accounted = sum(median(values) for values in phases.values())
    rows.append(["rest (log file, environment, listener, ...)", ms(median(whole) - accounted)])
    rows.append(["whole step", ms(median(whole))])
    print(table(["phase of a later step", "median ms"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--repeats", type=int, default=0, help="repetitions (default 9, quick 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process run")
    parser.add_argument("--breakdown", action="store_true", help="time each phase of a step")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 9)

    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        repo = make_repo(root / "repo", pipeline(STEPS))
        data_dir = root / "data"
        if args.profile:
            profile(repo, data_dir)
            return 0
        if args.breakdown:
            breakdown(repo, data_dir, repeats)
            return 0
        # Warm up: page cache, imports, git's own files.
        bare_commands(STEPS)
        run_engine(repo, data_dir)
        cli_run(repo, root / "cli-data")

        bare, engine, prep, first, steady, cli, start = [], [], [], [], [], [], []
        for _ in range(repeats):
            settle()
            bare.append(timed(lambda: bare_commands(STEPS)))
            run = run_engine(repo, data_dir)
            engine.append(run.run_seconds)
            prep.append(run.prepare_seconds)
            durations = run.listener.step_seconds()
            first.append(durations[0])
            steady.append(median(durations[1:]))
            cli.append(timed(lambda: cli_run(repo, root / "cli-data")))
            start.append(timed(cli_start))

    bare_total, engine_total = median(bare), median(engine)
    bare_step = bare_total / STEPS
    overhead = (engine_total - bare_total) / STEPS
    steady_overhead = median(steady) - bare_step
    cli_total = median(cli)
    print(f"bench_steps: {STEPS} echo steps, median of {repeats} runs; {machine()}")
    print()
    print(
        table(
            ["what", "total ms", "per step ms"],
            [
                ["bare: bash -c 'echo ...' x10 (subprocess.run)", ms(bare_total), ms(bare_step)],
                ["shipline engine: 10 steps (engine.run)", ms(engine_total), ms(engine_total / 10)],
                ["  of which first step (clones the commit)", "", ms(median(first))],
                ["  of which a later step (median)", "", ms(median(steady))],
                ["shipline.local.prepare (once per run)", ms(median(prep)), ""],
                ["shipline run -q (CLI, end to end)", ms(cli_total), ms(cli_total / STEPS)],
                ["shipline --version (interpreter + imports)", ms(median(start)), ""],
            ],
        )
    )
    print()
    print(f"spread (min-max ms): bare {spread(bare)}, engine {spread(engine)}, CLI {spread(cli)}")
    print(f"ratio engine / bare:                 {engine_total / bare_total:.2f}x")
    print(
        f"overhead per step (amortized):       {ms(overhead)} ms  "
        f"(target <= {TARGET_MS:.0f} ms: {verdict(overhead * 1000 <= TARGET_MS)})"
    )
    print(f"overhead per later step:             {ms(steady_overhead)} ms")
    print(
        f"CLI overhead per step (information): {ms((cli_total - bare_total) / STEPS)} ms "
        f"(ratio {cli_total / bare_total:.2f}x, includes interpreter start and prepare)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
