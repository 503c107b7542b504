"""Drive the real `shipline` console script, as a user would, in real git repositories.

Test modules are imported in importlib mode and cannot import this file, so its helpers come
through the `cli` fixture.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The console script installed next to the interpreter running the tests (.venv/bin).
SHIPLINE = Path(sys.executable).parent / "shipline"

# Variables that would make Rich style its output or change its width.
_STYLING_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@dataclass(frozen=True)
class Cli:
    """Runs `shipline` and knows the shape of what it prints and writes."""

    executable: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _STYLING_VARIABLES}
        env["NO_COLOR"] = "1"
        env.update(extra or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(self.executable), *args]

    def run(
        self, *args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`shipline ARGS` in `cwd`, to completion; stdout and stderr kept apart."""
        return subprocess.run(
            self.argv(*args),
            cwd=cwd,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_merged(self, *args: str, cwd: Path, timeout: float = 60) -> tuple[int, str]:
        """`shipline ARGS` with stderr merged into stdout, to check what comes first."""
        proc = subprocess.run(
            self.argv(*args),
            cwd=cwd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout

    @staticmethod
    def log_line(step_name: str, text: str) -> re.Pattern[str]:
        """A streamed log line `[Step name] text` (the name is padded to the widest step)."""
        return re.compile(rf"^\[{re.escape(step_name)} *\] {re.escape(text)}$", re.MULTILINE)

    @staticmethod
    def summary_row(number: int, step_name: str, status: str) -> re.Pattern[str]:
        """A row of the summary table: number, name, icon and status, duration, note."""
        return re.compile(
            rf"^ *{number} │ {re.escape(step_name)} +│ \S {re.escape(status)} +│"
            r" *(?P<duration>\S*) │ ?(?P<note>.*?) *$",
            re.MULTILINE,
        )

    @staticmethod
    def logs_dir(data_dir: Path, build_number: int = 1) -> Path:
        """Where a run's per-step logs go under a data directory (default: REPO/.shipline)."""
        return data_dir / "local" / "runs" / str(build_number) / "logs"


@pytest.fixture(scope="session")
def cli() -> Cli:
    if not SHIPLINE.exists():
        pytest.fail(f"no shipline console script at {SHIPLINE}; run ./scripts/install")
    return Cli(SHIPLINE)


@pytest.fixture
def shipline_cli(tmp_path: Path) -> Any:
    """Runs the console script with its own config directory (never the user's)."""
    executable = Path(sys.executable).with_name("shipline")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("SHIPLINE_SERVER", None)
    env.pop("SHIPLINE_TOKEN", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(executable), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    return run
