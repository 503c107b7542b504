"""The bundled example (examples/webshop) runs as the README and scripts/demo promise."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webshop"
STEPS = ["Build", "Unit tests", "Lint", "Check package", "Deploy to staging"]


@pytest.fixture
def webshop(tmp_path: Path) -> Path:
    """A copy of the example project, committed in a fresh git repository."""
    repo = tmp_path / "webshop"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__", ".shipline"))
    identity = ["-c", "user.name=Shipline Test", "-c", "user.email=test@shipline.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "webshop"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)
    return repo


def test_example_pauses_before_the_production_deploy(webshop: Path, cli: Cli) -> None:
    proc = cli.run("run", cwd=webshop)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    for number, name in enumerate(STEPS, start=1):
        assert cli.summary_row(number, name, "passed").search(proc.stdout), name
    assert cli.summary_row(6, "Deploy to production", "paused").search(proc.stdout)
    assert "paused before manual step 'Deploy to production'" in proc.stdout
    assert "--manual" in proc.stdout
    assert cli.log_line("Deploy to staging", "+ ./deploy.sh staging").search(proc.stdout)
    # No step names an image, so the default executor runs them all on this machine's shell.
    assert "no step names an image: every step runs on this machine's shell" in proc.stderr
    logs = cli.logs_dir(webshop / ".shipline")
    assert "Ran 2 tests" in (logs / "02-unit-tests.log").read_text()


def test_example_with_manual_runs_every_step(webshop: Path, cli: Cli) -> None:
    proc = cli.run("run", "--manual", cwd=webshop)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    for number, name in enumerate([*STEPS, "Deploy to production"], start=1):
        assert cli.summary_row(number, name, "passed").search(proc.stdout), name
    deployed = re.search(
        r"^\[Deploy to production *\] deploying webshop (\w+) to production", proc.stdout, re.M
    )
    assert deployed, proc.stdout
    assert "production deploy finished with exit code 0" in proc.stdout


def test_example_release_pipeline_announces_the_version(webshop: Path, cli: Cli) -> None:
    proc = cli.run("run", "--custom", "release", "--var", "VERSION=1.2.0", cwd=webshop)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert cli.summary_row(1, "Build", "passed").search(proc.stdout)
    assert cli.summary_row(2, "Release", "passed").search(proc.stdout)
    assert "deploying webshop 1.2.0 to staging" in proc.stdout
