"""Output throughput: a step printing 50 MB vs the same command writing into a file with bash.

Each command runs as a one-step pipeline by Shipline in-process (shipline.local.prepare, then
PipelineEngine + ShellExecutor timed; the listener discards output, the step log is written
as in every run) and as plain `bash -c 'COMMAND > file'` into a new file in the same tree:

- `cat FILE`: a prepared 50 MB text file. The log must hold exactly `+ cat FILE` and then the
  file's bytes (compared by length and sha256).
- `head -c N /dev/urandom | base64`: 50 MB generated in the step. The log must hold the
  command line, then exactly 50,000,000 base64 characters in whole 76-character lines.

Target: at most 1.3x the bare command. Judged three ways: whole step against `COMMAND > out`
for both commands; and the output alone, i.e. the `cat FILE` step minus the same step
printing nothing (the fixed price of a step), against `cat FILE | cat > out` minus
`cat EMPTY > out`. The last one compares like with like: GNU cat copies file to file inside
the kernel (copy_file_range), while a step's output must cross a pipe as the piped baseline's
does. For information: the console script end to end (`shipline run -q`, and with the logs
shown on stdout), and the live terminal display on its own.

    .venv/bin/python bench/bench_output.py [--quick] [--repeats N] [--mb N] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

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
from rich.console import Console

from shipline.cli.display import ConsoleDisplay
from shipline.config import parse_text
from shipline.plan import Event, Plan, compile_plan

TARGET_RATIO = 1.3
LINE = 76  # base64's default wrap


def write_text_file(path: Path, size: int) -> None:
    """`size` bytes of base64 text lines (76 characters and a newline), from os.urandom."""
    chunk_lines = 10_000
    written = 0
    with open(path, "wb") as out:
        while written < size:
            raw = os.urandom(LINE * 3 // 4 * chunk_lines)
            encoded = base64.b64encode(raw)
            block = b"".join(encoded[i : i + LINE] + b"\n" for i in range(0, len(encoded), LINE))
            block = block[: size - written]
            out.write(block)
            written += len(block)


def sha256_of(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def pipeline(command: str) -> str:
    return (
        "pipelines:\n  default:\n    - step:\n        name: Output\n        script:\n"
        f"          - {command}\n"
    )


def bare(command: str, out: Path) -> float:
    """Seconds for `bash -c 'COMMAND > out'`, into a new file (as a step log is), then removed."""
    out.unlink(missing_ok=True)
    seconds = timed(
        lambda: subprocess.run(
            ["bash", "-c", f"{command} > {out}"], check=True, stdin=subprocess.DEVNULL
        )
    )
    out.unlink()
    return seconds


def step_output(log_dir: Path, command: str) -> bytes:
    """The step's output as logged, after Shipline's own `+ command` line."""
    (log,) = log_dir.iterdir()
    data = log.read_bytes()
    header = f"+ {command}\n".encode()
    if not data.startswith(header):
        raise SystemExit(f"the log does not start with {header!r}: {data[:200]!r}")
    return data[len(header) :]


def check_cat(log_dir: Path, command: str, expected_sha: str, expected_size: int) -> str:
    got = step_output(log_dir, command)
    if len(got) != expected_size or sha256_of(got) != expected_sha:
        raise SystemExit(
            f"log mismatch: {len(got)} bytes (sha256 {sha256_of(got)[:16]}), "
            f"expected {expected_size} (sha256 {expected_sha[:16]})"
        )
    return f"{len(got):,} bytes, sha256 {expected_sha[:16]}… identical"


def check_base64(log_dir: Path, command: str, raw_size: int) -> str:
    got = step_output(log_dir, command)
    chars = (raw_size + 2) // 3 * 4
    expected = chars + (chars + LINE - 1) // LINE
    if len(got) != expected:
        raise SystemExit(f"log holds {len(got)} bytes of output, expected {expected}")
    lines = got.split(b"\n")
    if lines[-1] != b"" or any(len(line) != LINE for line in lines[:-2]):
        raise SystemExit("the logged base64 lines are not all 76 characters")
    base64.b64decode(b"".join(lines), validate=True)
    return f"{len(got):,} bytes, all {len(lines) - 1:,} lines whole, valid base64"


def cli_run(repo: Path, data_dir: Path, quiet: bool) -> float:
    """Seconds for the console script, end to end (stdout, with the logs, to /dev/null)."""
    argv = [str(SHIPLINE), "run", "--data-dir", str(data_dir), *(["-q"] if quiet else [])]
    return timed(
        lambda: subprocess.run(
            argv,
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            check=True,
        )
    )


def terminal_display(text: Path) -> float:
    """Seconds for the CLI's live terminal display to show the file as step output.

    In-process: a ConsoleDisplay on a Console that takes itself for a terminal and writes to
    /dev/null, fed in the 64 KiB chunks the executor reads. Output is shown from the thread
    that reads the step's pipe, so a slow display slows the step down.
    """
    parsed = parse_text(pipeline("cat FILE"))
    assert parsed.file is not None
    plan = compile_plan(parsed.file, Event(branch="main"))
    assert isinstance(plan, Plan)
    step = next(plan.steps())
    data = text.read_bytes()
    with open(os.devnull, "w") as sink:
        console = Console(file=sink, force_terminal=True, width=120)
        display = ConsoleDisplay(console, plan, show_logs=True, live=True)

        def show() -> None:
            with display:
                for start in range(0, len(data), 1 << 16):
                    display.step_output(step, data[start : start + (1 << 16)])

        return timed(show)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 MB and 3 repetitions")
    parser.add_argument("--mb", type=int, default=0, help="megabytes of output (default 50)")
    parser.add_argument("--repeats", type=int, default=0, help="repetitions (default 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process run")
    args = parser.parse_args()
    size = (args.mb or (10 if args.quick else 50)) * 1_000_000
    repeats = args.repeats or (3 if args.quick else 5)
    raw_size = size * 3 // 4  # base64 turns 3 bytes into 4 characters

    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        text = root / "output.txt"
        write_text_file(text, size)
        text_sha = sha256_of(text.read_bytes())
        cat = f"cat {text}"
        generate = f"head -c {raw_size} /dev/urandom | base64"
        cat_repo = make_repo(root / "cat-repo", pipeline(cat))
        gen_repo = make_repo(root / "gen-repo", pipeline(generate))
        empty = root / "empty.txt"
        empty.write_bytes(b"")
        empty_cat = f"cat {empty}"
        empty_repo = make_repo(root / "empty-repo", pipeline(empty_cat))
        piped = f"cat {text} | cat"
        data_dir, out, cli = root / "data", root / "bare.out", root / "cli-data"

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run_engine(cat_repo, data_dir)
            profiler.disable()
            report = io.StringIO()
            pstats.Stats(profiler, stream=report).sort_stats("tottime").print_stats(20)
            print(report.getvalue())
            return 0

        def check_cat_log(log_dir: Path) -> str:
            return check_cat(log_dir, cat, text_sha, size)

        def check_gen_log(log_dir: Path) -> str:
            return check_base64(log_dir, generate, raw_size)

        def engine(repo: Path, check: Callable[[Path], str] | None) -> float:
            run = run_engine(repo, data_dir)
            if check is not None:
                check(run.log_dir)  # outside the timing, which is engine.run() only
            return run.run_seconds

        # Warm up (page cache for the file, imports), and check every byte arrives.
        bare(cat, out)
        cat_check = check_cat_log(run_engine(cat_repo, data_dir).log_dir)
        gen_check = check_gen_log(run_engine(gen_repo, data_dir).log_dir)
        cli_run(cat_repo, cli, quiet=True)

        runs: list[tuple[str, str, Callable[[], float]]] = [
            ("bare-empty", "bare: bash -c 'cat EMPTY > out'", lambda: bare(empty_cat, out)),
            ("ship-empty", "shipline: step `cat EMPTY`", lambda: engine(empty_repo, None)),
            ("bare-cat", "bare: bash -c 'cat FILE > out'", lambda: bare(cat, out)),
            ("bare-pipe", "bare: bash -c 'cat FILE | cat > out'", lambda: bare(piped, out)),
            ("ship-cat", "shipline: step `cat FILE`", lambda: engine(cat_repo, check_cat_log)),
            ("bare-gen", "bare: bash -c 'head | base64 > out'", lambda: bare(generate, out)),
            ("bare-gen-pipe", "bare: bash -c 'head | base64 | cat > out'",
             lambda: bare(f"{generate} | cat", out)),
            ("ship-gen", "shipline: step `head | base64`", lambda: engine(gen_repo, check_gen_log)),
            ("cli-quiet", "CLI: shipline run -q, `cat FILE`", lambda: cli_run(cat_repo, cli, True)),
            ("terminal", "CLI display on a terminal (in-process)", lambda: terminal_display(text)),
            ("cli-shown", "CLI: shipline run, `cat FILE`, logs shown",
             lambda: cli_run(cat_repo, cli, False)),
        ]  # fmt: skip
        times: dict[str, list[float]] = {key: [] for key, _, _ in runs}
        settle()
        for _ in range(repeats):
            for key, _, action in runs:
                times[key].append(action())
            # Every run writes new files; old ones go outside the timings.
            for old in (data_dir / "local" / "runs", cli / "local" / "runs"):
                shutil.rmtree(old, ignore_errors=True)
            settle()

    t = {key: median(values) for key, values in times.items()}
    mb = size / 1_000_000
    baseline_of = {"ship-cat": "bare-cat", "ship-gen": "bare-gen", "bare-pipe": "bare-cat"}
    baseline_of |= {"bare-gen-pipe": "bare-gen"}
    baseline_of |= {"cli-quiet": "bare-cat", "cli-shown": "bare-cat"}
    rows = []
    for key, label, _ in runs:
        rate = "" if "empty" in key else f"{mb / t[key]:.0f}"
        base = baseline_of.get(key)
        ratio = f"{t[key] / t[base]:.2f}" if base else ""
        rows.append([label, ms(t[key]), spread(times[key]), rate, ratio])
    print(f"bench_output: {mb:.0f} MB of output, median of {repeats} runs; {machine()}")
    print()
    print(table(["what", "median ms", "min-max ms", "MB/s", "ratio"], rows))
    print()
    print(f"every byte kept, `cat FILE`:      {cat_check}")
    print(f"every byte kept, `head | base64`: {gen_check}")
    judged = [
        ("`cat FILE`, whole step vs `cat FILE > out`", t["ship-cat"] / t["bare-cat"]),
        ("`head | base64`, whole step vs `... > out`", t["ship-gen"] / t["bare-gen"]),
        (
            # What the output itself costs: minus the step printing nothing, and against a
            # baseline that also moves the bytes through a pipe (`cat > out` copies in-kernel).
            "`cat FILE`, output only vs `cat FILE | cat > out`",
            (t["ship-cat"] - t["ship-empty"]) / (t["bare-pipe"] - t["bare-empty"]),
        ),
        (
            "`head | base64`, output only vs `head | base64 | cat > out`",
            (t["ship-gen"] - t["ship-empty"]) / (t["bare-gen-pipe"] - t["bare-empty"]),
        ),
    ]
    for what, factor in judged:
        met = verdict(factor <= TARGET_RATIO)
        print(f"{what}: {factor:.2f}x (target <= {TARGET_RATIO}x: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
