"""Live terminal display of a run: a status table, step-prefixed logs, a summary."""

from __future__ import annotations

import sys
import threading
import time
from typing import BinaryIO

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from shipline.engine import PipelineResult, RunListener, StepResult, StepStatus
from shipline.plan import Plan, StepSpec

_STYLE = {
    StepStatus.PENDING: ("·", "dim"),
    StepStatus.QUEUED: ("·", "cyan"),
    StepStatus.RUNNING: ("▶", "cyan"),
    StepStatus.PASSED: ("✔", "green"),
    StepStatus.FAILED: ("✘", "red"),
    StepStatus.SKIPPED: ("↷", "dim"),
    StepStatus.PAUSED: ("⏸", "yellow"),
    StepStatus.NOT_RUN: ("-", "dim"),
    StepStatus.CANCELLED: ("■", "red"),
}
_PREFIX_COLOURS = ("cyan", "magenta", "blue", "yellow", "green", "bright_cyan", "bright_magenta")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


# Line boundaries str.splitlines() knows besides "\n" that are single ASCII bytes.
_ASCII_LINE_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _prefixed(prefix: str, complete: bytes) -> bytes:
    """Each line of `complete` (which ends with a newline) behind `prefix`, UTF-8 encoded.

    Invalid UTF-8 becomes U+FFFD and lines break where str.splitlines() breaks them. Plain
    ASCII text split only by newlines, by far the most common output, takes a bytes-only path
    about three times faster, with the same result.
    """
    if complete.isascii() and not any(mark in complete for mark in _ASCII_LINE_BREAKS):
        head = prefix.encode()
        return head + complete[:-1].replace(b"\n", b"\n" + head) + b"\n"
    lines = complete.decode("utf-8", errors="replace").splitlines()
    return "".join(f"{prefix}{line}\n" for line in lines).encode()


class _LogLines:
    """Lines of step output behind a coloured prefix, for terminals.

    Plain lines go out as they are: building a Text per line, as Rich would, costs about
    twenty times more, and output arrives from the thread that reads the step's pipe. Lines
    with colours or other control characters are decoded by Rich, which keeps colours and
    drops cursor movements that would disturb the live table.
    """

    def __init__(self, prefix: str, style: Style, lines: list[str]) -> None:
        self.prefix = prefix
        self.style = style
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines:
            yield Segment(self.prefix, self.style)
            if line.isprintable():
                yield Segment(line)
            else:
                yield from Text.from_ansi(line, end="").render(console, end="")
            yield newline


class _StatusTable:
    def __init__(self, display: ConsoleDisplay) -> None:
        self.display = display

    def __rich__(self) -> RenderableType:
        return self.display.status_table()


class ConsoleDisplay(RunListener):
    """Prints what the engine reports; a live table on terminals, plain lines elsewhere."""

    def __init__(
        self, console: Console, plan: Plan, *, show_logs: bool = True, live: bool | None = None
    ) -> None:
        self.console = console
        self.plan = plan
        self.show_logs = show_logs
        self.use_live = console.is_terminal if live is None else live
        self.statuses: dict[str, StepResult] = {
            s.id: StepResult(StepStatus.PENDING) for s in plan.steps()
        }
        self.started: dict[str, float] = {}
        self._partial: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None
        width = max((len(s.name) for s in plan.steps()), default=4)
        self._prefix_width = min(width, 24)
        self._colours = {
            s.id: _PREFIX_COLOURS[i % len(_PREFIX_COLOURS)] for i, s in enumerate(plan.steps())
        }
        self._out: BinaryIO | None = (
            sys.stdout.buffer if console.file is sys.stdout else None  # type: ignore[attr-defined]
        )

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> ConsoleDisplay:
        if self.use_live:
            self._live = Live(
                _StatusTable(self),
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # ---- listener -----------------------------------------------------------------------

    def step_started(self, step: StepSpec) -> None:
        with self._lock:
            self.started[step.id] = time.monotonic()
            self.statuses[step.id] = StepResult(StepStatus.RUNNING)
        if not self.use_live:
            self._print(Text.assemble(("▶ ", "cyan"), (step.name, "bold"), " started"))

    def step_output(self, step: StepSpec, data: bytes) -> None:
        if not self.show_logs:
            return
        with self._lock:
            buffered = self._partial.pop(step.id, b"") + data
            cut = buffered.rfind(b"\n")
            if cut < 0:
                self._partial[step.id] = buffered
                return
            complete, rest = buffered[: cut + 1], buffered[cut + 1 :]
            if rest:
                self._partial[step.id] = rest
            self._emit(step, complete)

    def step_finished(self, step: StepSpec, result: StepResult) -> None:
        with self._lock:
            rest = self._partial.pop(step.id, b"")
            if rest and self.show_logs:
                self._emit(step, rest + b"\n")
            self.statuses[step.id] = result
        icon, style = _STYLE[result.status]
        line = Text.assemble((f"{icon} ", style), (step.name, "bold"), f" {result.status.value}")
        if result.duration is not None:
            line.append(f" in {format_seconds(result.duration)}", "dim")
        if result.reason:
            line.append(f" — {result.reason}", style)
        self._print(line)

    def pipeline_finished(self, result: PipelineResult) -> None:
        with self._lock:
            self.statuses.update(result.steps)

    # ---- rendering ----------------------------------------------------------------------

    def _emit(self, step: StepSpec, complete: bytes) -> None:
        """Print whole lines (`complete` ends with a newline), each behind the step's prefix."""
        prefix = f"[{step.name[: self._prefix_width]:<{self._prefix_width}}] "
        if self._live is None and self._out is not None and not self.console.is_terminal:
            # Plain output (pipes, CI): no markup or styling cost.
            self._out.write(_prefixed(prefix, complete))
            self._out.flush()
            return
        lines = complete.decode("utf-8", errors="replace").splitlines()
        style = Style.parse(self._colours.get(step.id, "cyan"))
        self._print(_LogLines(prefix, style, lines))

    def _print(self, renderable: RenderableType) -> None:
        if self._out is not None and self._live is None:
            self._out.flush()
        self.console.print(renderable, soft_wrap=True, highlight=False)

    def status_table(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False)
        now = time.monotonic()
        for step in self.plan.steps():
            result = self.statuses[step.id]
            icon, style = _STYLE[result.status]
            elapsed = result.duration
            if result.status is StepStatus.RUNNING and step.id in self.started:
                elapsed = now - self.started[step.id]
            table.add_row(
                Text(icon, style),
                Text(step.name, "bold"),
                Text(result.status.value, style),
                Text(format_seconds(elapsed), "dim"),
            )
        return table


def summary_table(plan: Plan, result: PipelineResult) -> Table:
    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("Step")
    table.add_column("Status")
    table.add_column("Duration", justify="right")
    table.add_column("Note")
    for step in plan.steps():
        step_result = result.steps[step.id]
        icon, style = _STYLE[step_result.status]
        table.add_row(  # Text, not str: step names and reasons are not markup
            str(step.number),
            Text(step.name),
            Text(f"{icon} {step_result.status.value}", style),
            format_seconds(step_result.duration),
            Text(step_result.reason),
        )
    return table
