"""What `shipline` shows: step-prefixed logs, statuses, the summary, on pipes and terminals."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from shipline import __version__
from shipline.cli.display import ConsoleDisplay, _prefixed, format_seconds, summary_table
from shipline.config import parse_text
from shipline.engine import PipelineResult, PipelineStatus, StepResult, StepStatus
from shipline.plan import Event, Plan, compile_plan

if TYPE_CHECKING:
    from tests.cli.conftest import Cli
    from tests.conftest import MakeRepo


def _plan(*names: str) -> Plan:
    steps = "".join(
        f"    - step:\n        name: {name!r}\n        script:\n          - echo hi\n"
        for name in names
    )
    parsed = parse_text(f"pipelines:\n  default:\n{steps}")
    assert parsed.file is not None, parsed.diagnostics
    plan = compile_plan(parsed.file, Event(branch="main"))
    assert isinstance(plan, Plan)
    return plan


def _display(plan: Plan, *, show_logs: bool = True) -> tuple[ConsoleDisplay, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None, highlight=False)
    return ConsoleDisplay(console, plan, show_logs=show_logs, live=False), buffer


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0.04, "0.0s"),
        (12.34, "12.3s"),
        (59.94, "59.9s"),
        (61, "1m01s"),
        (3725, "62m05s"),
    ],
)
def test_format_seconds(seconds: float | None, shown: str) -> None:
    assert format_seconds(seconds) == shown


def _prefixed_reference(prefix: str, complete: bytes) -> bytes:
    lines = complete.decode("utf-8", errors="replace").splitlines()
    return "".join(f"{prefix}{line}\n" for line in lines).encode()


@pytest.mark.parametrize(
    "complete",
    [
        b"hello\n",
        b"a\n\nb\n",
        b"\n",
        b"progress 10%\rprogress 20%\n",
        b"windows\r\nline\r\n",
        b"tab\tand \x1b[31mcolour\x1b[0m\n",
        b"caf\xc3\xa9\n",
        b"bad \xff\xfe bytes\n",
        "sep\u2028arated\x85here\n".encode(),
        b"form\x0cfeed\x1cfile\x1dgroup\x1erecord\x0bvt\n",
    ],
)
def test_plain_prefixing_matches_line_splitting(complete: bytes) -> None:
    assert _prefixed("[Step] ", complete) == _prefixed_reference("[Step] ", complete)


@given(st.binary(max_size=300).map(lambda b: b + b"\n"), st.sampled_from(["[s] ", "[Ünï] "]))
def test_plain_prefixing_matches_line_splitting_for_any_bytes(complete: bytes, prefix: str) -> None:
    assert _prefixed(prefix, complete) == _prefixed_reference(prefix, complete)


def test_output_is_prefixed_per_line_even_when_chunks_split_lines() -> None:
    plan = _plan("Build", "Integration tests")
    build = next(plan.steps())
    display, buffer = _display(plan)

    display.step_started(build)
    for chunk in (b"hel", b"lo\nwor", b"ld\n\nlast line without newline"):
        display.step_output(build, chunk)
    display.step_finished(build, StepResult(StepStatus.PASSED, started_at=1.0, finished_at=3.5))

    assert [line.rstrip() for line in buffer.getvalue().splitlines()] == [
        "▶ Build started",
        "[Build            ] hello",
        "[Build            ] world",
        "[Build            ]",
        "[Build            ] last line without newline",
        "✔ Build passed in 2.5s",
    ]


def test_long_step_names_are_cut_in_the_prefix_only() -> None:
    name = "A step with a really very long descriptive name"
    plan = _plan(name)
    step = next(plan.steps())
    display, buffer = _display(plan)

    display.step_output(step, b"x\n")
    display.step_finished(step, StepResult(StepStatus.FAILED, "script exited with code 1"))

    lines = buffer.getvalue().splitlines()
    assert lines[0] == f"[{name[:24]}] x"
    assert lines[1] == f"✘ {name} failed — script exited with code 1"


def test_step_output_is_not_taken_as_markup() -> None:
    plan = _plan("Build")
    step = next(plan.steps())
    display, buffer = _display(plan)

    display.step_output(step, b"[bold]not bold[/bold] [red]x\n")

    assert buffer.getvalue() == "[Build] [bold]not bold[/bold] [red]x\n"


def test_terminal_output_keeps_colours_and_drops_cursor_movement() -> None:
    plan = _plan("Build")
    step = next(plan.steps())
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=100)
    display = ConsoleDisplay(console, plan, live=False)

    display.step_output(step, b"plain line\n\x1b[31mred\x1b[0m text\n\x1b[2Kerased\ttab\n")

    out = buffer.getvalue()
    assert "\x1b[31mred" in out
    assert "\x1b[2K" not in out
    visible = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert visible.splitlines() == [
        "[Build] plain line",
        "[Build] red text",
        "[Build] erased\ttab",
    ]


def test_quiet_display_keeps_statuses_only() -> None:
    plan = _plan("Build")
    step = next(plan.steps())
    display, buffer = _display(plan, show_logs=False)

    display.step_started(step)
    display.step_output(step, b"noisy output\npartial")
    display.step_finished(step, StepResult(StepStatus.PASSED, started_at=0.0, finished_at=0.25))

    assert buffer.getvalue().splitlines() == ["▶ Build started", "✔ Build passed in 0.2s"]


def test_summary_table_lists_every_step_with_status_duration_and_note() -> None:
    plan = _plan("Build [fast]", "Test", "Deploy")
    build, test, deploy = plan.steps()
    result = PipelineResult(
        PipelineStatus.FAILED,
        {
            build.id: StepResult(StepStatus.PASSED, started_at=10.0, finished_at=75.0),
            test.id: StepResult(
                StepStatus.FAILED, "script exited with code 2", started_at=1.0, finished_at=1.3
            ),
            deploy.id: StepResult(StepStatus.NOT_RUN, "an earlier step failed"),
        },
    )
    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(summary_table(plan, result))

    rows = [line for line in buffer.getvalue().splitlines() if "│" in line]
    cells = [[cell.strip() for cell in row.split("│")] for row in rows]
    assert cells == [
        ["1", "Build [fast]", "✔ passed", "1m05s", ""],
        ["2", "Test", "✘ failed", "0.3s", "script exited with code 2"],
        ["3", "Deploy", "- not run", "", "an earlier step failed"],
    ]


def test_status_table_shows_running_steps_with_elapsed_time() -> None:
    plan = _plan("Build", "Test")
    build = next(plan.steps())
    display, _ = _display(plan)
    display.step_started(build)
    display.started[build.id] -= 3.0

    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(display.status_table())

    first, second = buffer.getvalue().splitlines()
    assert re.fullmatch(r"▶ +Build +running +3\.\ds *", first), first
    assert re.fullmatch(r"· +Test +pending *", second), second


def test_concurrent_output_never_mixes_lines() -> None:
    plan = _plan("Left", "Right")
    steps = list(plan.steps())
    display, buffer = _display(plan)

    def produce(index: int) -> None:
        step = steps[index]
        text = "".join(f"{step.name}-{i}\n" for i in range(300)).encode()
        for start in range(0, len(text), 7):  # awkward chunk sizes split lines everywhere
            display.step_output(step, text[start : start + 7])

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = buffer.getvalue().splitlines()
    assert len(lines) == 600
    for name in ("Left", "Right"):
        mine = [line for line in lines if line.startswith(f"[{name}")]
        assert mine == [f"[{name:<5}] {name}-{i}" for i in range(300)]


# ---- through the console script ------------------------------------------------------------


def test_version(cli: Cli, tmp_path: Path) -> None:
    proc = cli.run("--version", cwd=tmp_path)

    assert proc.returncode == 0
    assert proc.stdout.strip() == f"shipline {__version__}"


def test_help_lists_the_commands(cli: Cli, tmp_path: Path) -> None:
    proc = cli.run("--help", cwd=tmp_path)

    assert proc.returncode == 0
    for command in ("run", "plan", "lint"):
        assert re.search(rf"│ {command} ", proc.stdout), proc.stdout


def test_piped_output_keeps_long_lines_and_odd_bytes_whole(make_repo: MakeRepo, cli: Cli) -> None:
    long_word = "x" * 300
    repo = make_repo(
        "image: " + "registry.example.com/" + "very-long-path/" * 6 + "image:1\n"
        "pipelines:\n  default:\n    - step:\n        name: Build\n        script:\n"
        f"          - echo {long_word}\n"
        "          - printf 'caf\\xc3\\xa9 \\xff\\xfe raw\\n'\n"
    )

    proc = cli.run("run", "--executor", "shell", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert f"\n[Build] {long_word}\n" in proc.stdout
    assert "[Build] café \ufffd\ufffd raw\n" in proc.stdout
    note = next(line for line in proc.stderr.splitlines() if "image(s)" in line)
    assert note.endswith("are ignored (use --executor docker to run in them)"), proc.stderr
    log = (cli.logs_dir(repo / ".shipline") / "01-build.log").read_bytes()
    assert log.endswith(b"\ncaf\xc3\xa9 \xff\xfe raw\n"), "the log keeps the bytes as written"


def test_parallel_steps_stream_whole_lines(make_repo: MakeRepo, cli: Cli) -> None:
    steps = "".join(
        f"          - step:\n              name: {name}\n              script:\n"
        f"                - for i in $(seq 1 3000); do echo {name}-$i; done\n"
        for name in ("Alpha", "Beta", "Gamma")
    )
    repo = make_repo(f"pipelines:\n  default:\n    - parallel:\n        steps:\n{steps}")

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    for name in ("Alpha", "Beta", "Gamma"):
        lines = re.findall(rf"^\[{name} *\] ({name}-\d+)$", proc.stdout, re.MULTILINE)
        assert lines == [f"{name}-{i}" for i in range(1, 3001)]


def _run_in_terminal(cli: Cli, repo: Path, *args: str, timeout: float = 30) -> tuple[int, str]:
    """Run shipline with a pseudo-terminal as stdout and stderr (the live display)."""
    main_fd, sub_fd = pty.openpty()
    proc = subprocess.Popen(
        cli.argv(*args),
        cwd=repo,
        env=cli.env({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}),
        stdin=subprocess.DEVNULL,
        stdout=sub_fd,
        stderr=sub_fd,
    )
    os.close(sub_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(main_fd, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = b"".join(chunks).decode(errors="replace")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", text)


def test_live_display_on_a_terminal(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(
        "pipelines:\n  default:\n    - step:\n        name: Build\n        script:\n"
        "          - echo hello from the step\n          - sleep 0.6\n"
        "    - step:\n        name: Deploy\n        trigger: manual\n        script:\n"
        "          - echo deploy\n"
    )

    code, screen = _run_in_terminal(cli, repo, "run")

    assert code == 0, screen
    assert re.search(r"\[Build *\] hello from the step", screen), screen
    assert "✔ Build passed" in screen
    assert "paused before manual step 'Deploy'" in screen
    assert re.search(r"Build +│ ✔ passed", screen), screen
