"""`shipline lint`: compiler-style diagnostics and exit codes 0 (valid) / 2 (invalid)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Cli

VALID = """\
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo hi
"""

# Line 5 misspells `script`; line 7 names a cache nobody defined.
INVALID = """\
pipelines:
  default:
    - step:
        name: Build
        scripts:
          - echo hi
    - step:
        caches:
          - nowhere
        script:
          - echo there
"""

WITH_WARNING = """\
pipelines:
  default:
    - step:
        name: Build
        runtime:
          cloud:
            arch: arm
        script:
          - echo hi
"""

DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): ")


def _diagnostics(stderr: str) -> list[re.Match[str]]:
    return [m for line in stderr.splitlines() if (m := DIAGNOSTIC.match(line))]


def test_valid_file_exits_0(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bitbucket-pipelines.yml").write_text(VALID)

    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "bitbucket-pipelines.yml: valid"
    assert proc.stdout == ""


def test_invalid_file_exits_2_with_every_error_located(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bitbucket-pipelines.yml").write_text(INVALID)

    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 2
    found = _diagnostics(proc.stderr)
    assert {(m["file"], m["sev"]) for m in found} == {("bitbucket-pipelines.yml", "error")}
    assert "bitbucket-pipelines.yml:5:9: error: unknown key 'scripts' in a step" in proc.stderr
    assert "  hint: did you mean 'script'?" in proc.stderr
    assert any(m["line"] == "9" and "nowhere" in m.string for m in found), proc.stderr
    count = len(found)
    assert proc.stderr.rstrip().endswith(f"{count} error{'s' if count != 1 else ''}")


def test_warnings_alone_keep_exit_0(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bitbucket-pipelines.yml").write_text(WITH_WARNING)

    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    warnings = _diagnostics(proc.stderr)
    assert [(m["line"], m["col"], m["sev"]) for m in warnings] == [("5", "9", "warning")]
    assert "'runtime' is ignored by Shipline" in proc.stderr


def test_yaml_syntax_error_exits_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bitbucket-pipelines.yml").write_text("pipelines:\n  default: [\n")

    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 2
    assert _diagnostics(proc.stderr), proc.stderr


def test_path_to_a_file_is_linted_and_named_in_diagnostics(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "configs" / "candidate.yml"
    target.parent.mkdir()
    target.write_text(INVALID)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = cli.run("lint", str(target), cwd=elsewhere)

    assert proc.returncode == 2
    assert {m["file"] for m in _diagnostics(proc.stderr)} == {str(target)}
    assert f"{target}:5:9: error: unknown key 'scripts'" in proc.stderr


def test_path_to_a_directory_lints_its_pipeline_file(cli: Cli, tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    for directory, text in ((good, VALID), (bad, INVALID)):
        directory.mkdir()
        (directory / "bitbucket-pipelines.yml").write_text(text)

    valid = cli.run("lint", str(good), cwd=tmp_path)
    invalid = cli.run("lint", str(bad), cwd=tmp_path)

    assert valid.returncode == 0, valid.stderr
    assert f"{good / 'bitbucket-pipelines.yml'}: valid" in valid.stderr
    assert invalid.returncode == 2
    assert {m["file"] for m in _diagnostics(invalid.stderr)} == {
        str(bad / "bitbucket-pipelines.yml")
    }


def test_missing_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 2
    assert "not found" in proc.stderr


def test_lint_reads_the_working_copy(cli: Cli, tmp_path: Path) -> None:
    """Unlike `run`, lint checks the file being edited: no git repository needed."""
    (tmp_path / "bitbucket-pipelines.yml").write_text(VALID.replace("script:", "scrip:"))

    proc = cli.run("lint", cwd=tmp_path)

    assert proc.returncode == 2
    assert "unknown key 'scrip'" in proc.stderr
