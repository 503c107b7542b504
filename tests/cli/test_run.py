"""`shipline run` end to end: the real console script in real git repositories."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Cli
    from tests.conftest import MakeRepo

TWO_STEPS = """\
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo hi
          - echo "built $BITBUCKET_BRANCH number $BITBUCKET_BUILD_NUMBER"
    - step:
        name: Test suite
        script:
          - seq 1 3
"""

FAILING = """\
pipelines:
  default:
    - step:
        name: Compile
        script:
          - echo compiling
          - exit 3
          - echo never printed
    - step:
        name: Publish
        script:
          - echo publishing
"""

WITH_MANUAL = """\
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo building
    - step:
        name: Deploy
        trigger: manual
        script:
          - echo deploying
"""

CUSTOM = """\
pipelines:
  default:
    - step:
        script:
          - echo default
  custom:
    deploy:
      - variables:
          - name: TARGET
            default: staging
            allowed-values:
              - staging
              - production
          - name: VERSION
      - step:
          name: Deploy
          script:
            - echo "target=$TARGET version=$VERSION"
"""

ONE_STEP = """\
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo hi
"""


def test_passing_pipeline_exits_0_with_prefixed_logs_and_a_summary_of_every_step(
    make_repo: MakeRepo, cli: Cli
) -> None:
    repo = make_repo(TWO_STEPS)

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Pipeline #1 default for branch 'main'" in out
    assert "why: " in out
    assert cli.log_line("Build", "+ echo hi").search(out)
    assert cli.log_line("Build", "hi").search(out)
    assert cli.log_line("Build", "built main number 1").search(out)
    assert cli.log_line("Test suite", "+ seq 1 3").search(out)
    for n in ("1", "2", "3"):
        assert cli.log_line("Test suite", n).search(out)
    for number, name in ((1, "Build"), (2, "Test suite")):
        row = cli.summary_row(number, name, "passed").search(out)
        assert row, f"no summary row for {name}:\n{out}"
        assert re.fullmatch(r"\d+\.\ds", row["duration"])
    # Steps run in order: everything Build printed comes before Test suite starts.
    assert out.index("[Build") < out.index("[Test suite] + seq 1 3")


def test_each_step_has_a_log_file_with_its_full_output(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(
        ONE_STEP.replace("echo hi", "seq 1 20000")
        + "    - step:\n        name: Second step\n        script:\n          - echo two\n"
    )

    proc = cli.run("run", "--quiet", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    logs = cli.logs_dir(repo / ".shipline")
    assert sorted(p.name for p in logs.iterdir()) == ["01-build.log", "02-second-step.log"]
    build_log = (logs / "01-build.log").read_text()
    assert build_log == "+ seq 1 20000\n" + "".join(f"{i}\n" for i in range(1, 20001))
    assert (logs / "02-second-step.log").read_text() == "+ echo two\ntwo\n"
    assert f"logs: {logs}" in proc.stdout
    # The working copy stays clean: the data directory ignores itself.
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_a_failed_step_exits_1_and_later_steps_do_not_run(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(FAILING)

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 1
    assert cli.log_line("Compile", "+ exit 3").search(proc.stdout)
    assert "never printed" not in proc.stdout
    assert "publishing" not in proc.stdout
    failed = cli.summary_row(1, "Compile", "failed").search(proc.stdout)
    assert failed
    assert failed["note"] == "script exited with code 3"
    not_run = cli.summary_row(2, "Publish", "not run").search(proc.stdout)
    assert not_run
    assert not_run["note"] == "an earlier step failed"
    assert not (cli.logs_dir(repo / ".shipline") / "02-publish.log").exists()


def test_pausing_at_a_manual_step_exits_0_and_says_how_to_go_on(
    make_repo: MakeRepo, cli: Cli
) -> None:
    repo = make_repo(WITH_MANUAL)

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "deploying" not in proc.stdout
    assert cli.summary_row(1, "Build", "passed").search(proc.stdout)
    paused = cli.summary_row(2, "Deploy", "paused").search(proc.stdout)
    assert paused
    assert paused["note"] == "waiting for a manual trigger"
    assert "paused before manual step 'Deploy'" in proc.stdout
    assert "Run again with --manual to run manual steps too." in proc.stdout


def test_manual_flag_runs_manual_steps(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(WITH_MANUAL)

    proc = cli.run("run", "--manual", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert cli.log_line("Deploy", "deploying").search(proc.stdout)
    assert cli.summary_row(2, "Deploy", "passed").search(proc.stdout)
    assert "paused" not in proc.stdout


def test_invalid_file_exits_2_with_compiler_style_diagnostics_on_stderr(
    make_repo: MakeRepo, cli: Cli
) -> None:
    repo = make_repo(ONE_STEP.replace("        script:", "        scripts:"))

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert errors, proc.stderr
    for line in errors:
        assert re.fullmatch(r"bitbucket-pipelines\.yml:\d+:\d+: error: .+", line), line
    assert "bitbucket-pipelines.yml:5:9: error: unknown key 'scripts' in a step" in proc.stderr
    assert "did you mean 'script'?" in proc.stderr
    assert not (repo / ".shipline").exists(), "an invalid file must not start a run"


def test_yaml_syntax_error_exits_2_with_its_position(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo("pipelines:\n  default:\n    - step:\n      name: [unclosed\n")

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 2
    assert re.search(r"^bitbucket-pipelines\.yml:\d+:\d+: error: ", proc.stderr, re.MULTILINE)


def test_the_committed_file_runs_not_the_working_copy(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(ONE_STEP)
    (repo / "bitbucket-pipelines.yml").write_text(ONE_STEP.replace("echo hi", "echo edited"))

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert cli.log_line("Build", "hi").search(proc.stdout)
    assert "edited" not in proc.stdout
    assert "note: uncommitted changes are not part of this run" in proc.stderr


def test_unknown_custom_pipeline_exits_2(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(CUSTOM)

    proc = cli.run("run", "--custom", "nope", cwd=repo)

    assert proc.returncode == 2
    assert "no custom pipeline named 'nope' (available: deploy)" in proc.stderr
    assert not (repo / ".shipline").exists()


def test_custom_pipeline_receives_variables_and_defaults(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(CUSTOM)

    proc = cli.run("run", "--custom", "deploy", "--var", "VERSION=1.2.0", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "Pipeline #1 custom.deploy for custom pipeline 'deploy'" in proc.stdout
    assert cli.log_line("Deploy", "target=staging version=1.2.0").search(proc.stdout)

    proc = cli.run("run", "-c", "deploy", "-v", "TARGET=production", "-v", "VERSION=2.0", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert cli.log_line("Deploy", "target=production version=2.0").search(proc.stdout)


def test_variable_outside_allowed_values_exits_2(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(CUSTOM)

    proc = cli.run("run", "--custom", "deploy", "--var", "TARGET=moon", cwd=repo)

    assert proc.returncode == 2
    assert "TARGET" in proc.stderr
    assert "moon" in proc.stderr
    assert "staging, production" in proc.stderr
    assert "target=" not in proc.stdout


def test_malformed_var_is_a_usage_error(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(CUSTOM)

    proc = cli.run("run", "--custom", "deploy", "--var", "NOEQUALS", cwd=repo)

    assert proc.returncode == 2
    assert "NAME=VALUE" in proc.stderr


def test_unmatched_tag_has_nothing_to_run(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(
        ONE_STEP + "  tags:\n    'release-*':\n      - step:\n          script:\n"
        "            - echo release\n"
    )

    proc = cli.run("run", "--tag", "v1.0", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "nothing to run" in proc.stderr
    assert "v1.0" in proc.stderr
    assert proc.stdout == ""


def test_matching_tag_runs_its_pipeline(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(
        ONE_STEP + "  tags:\n    'release-*':\n      - step:\n          name: Release\n"
        '          script:\n            - echo "tag=$BITBUCKET_TAG"\n'
    )

    proc = cli.run("run", "--tag", "release-7", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert cli.log_line("Release", "tag=release-7").search(proc.stdout)


def test_skip_ci_in_the_commit_message_has_nothing_to_run(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(ONE_STEP, message="docs only [skip ci]")

    proc = cli.run("run", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "nothing to run" in proc.stderr
    assert "[skip ci]" in proc.stderr  # printed literally, not taken as markup
    assert proc.stdout == ""


def test_quiet_hides_step_logs_but_keeps_statuses(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(TWO_STEPS)

    proc = cli.run("run", "--quiet", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "+ echo hi" not in proc.stdout
    assert not re.search(r"^\[", proc.stdout, re.MULTILINE)
    assert "✔ Build passed" in proc.stdout
    assert "✔ Test suite passed" in proc.stdout
    assert cli.summary_row(2, "Test suite", "passed").search(proc.stdout)
    log = cli.logs_dir(repo / ".shipline") / "01-build.log"
    assert "+ echo hi\nhi\n" in log.read_text()


def test_data_dir_holds_runs_and_build_numbers_increase(
    make_repo: MakeRepo, cli: Cli, tmp_path: Path
) -> None:
    repo = make_repo(ONE_STEP)
    data_dir = tmp_path / "shipline-data"

    first = cli.run("run", "-q", "--data-dir", str(data_dir), cwd=repo)
    second = cli.run("run", "-q", "--data-dir", str(data_dir), cwd=repo)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "Pipeline #1 " in first.stdout
    assert "Pipeline #2 " in second.stdout
    for number in (1, 2):
        log = cli.logs_dir(data_dir, number) / "01-build.log"
        assert log.read_text() == "+ echo hi\nhi\n"
    assert not (repo / ".shipline").exists()


def test_repo_option_runs_another_directory(make_repo: MakeRepo, cli: Cli, tmp_path: Path) -> None:
    repo = make_repo(ONE_STEP)

    proc = cli.run("run", "--repo", str(repo), cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert cli.log_line("Build", "hi").search(proc.stdout)
    assert (cli.logs_dir(repo / ".shipline") / "01-build.log").exists()


def test_shell_executor_notes_come_before_the_run(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(
        """\
image: node:18
definitions:
  services:
    postgres:
      image: postgres:15
pipelines:
  default:
    - step:
        name: Build
        services:
          - postgres
        script:
          - echo hi
"""
    )

    code, out = cli.run_merged("run", "--executor", "shell", cwd=repo)

    assert code == 0, out
    image_note = (
        "note: shell executor: steps run on this machine's shell; image(s) node:18 are ignored"
    )
    service_note = (
        "note: shell executor: step 'Build' asks for service(s) postgres, "
        "which cannot start without Docker"
    )
    assert image_note in out
    assert service_note in out
    first_log = out.index("[Build] + echo hi")
    assert out.index(image_note) < out.index("Pipeline #1") < first_log
    assert out.index(service_note) < first_log


def test_unknown_executor_exits_2(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(ONE_STEP)

    proc = cli.run("run", "--executor", "kubernetes", cwd=repo)

    assert proc.returncode == 2
    assert "unknown executor 'kubernetes'; choose one of auto, docker, shell" in proc.stderr


def test_not_a_git_repository_exits_2(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bitbucket-pipelines.yml").write_text(ONE_STEP)

    proc = cli.run("run", cwd=tmp_path)

    assert proc.returncode == 2
    assert "error" in proc.stderr.lower()


# ---- Ctrl-C --------------------------------------------------------------------------------

SLEEPY = """\
pipelines:
  default:
    - step:
        name: Sleepy
        script:
          - echo started
          - {command}
    - step:
        name: Never
        script:
          - echo never
"""


def _processes_under(directory: Path) -> list[str]:
    """Command lines of live processes whose working directory is inside `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cwd.startswith(str(directory)):
            found.append(cmdline)
    return found


def _interrupt_while_running(cli: Cli, repo: Path, marker: str) -> tuple[int, float, str]:
    """Start `shipline run`, send SIGINT once `marker` was printed; (exit code, secs, output)."""
    proc = subprocess.Popen(
        cli.argv("run"),
        cwd=repo,
        env=cli.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = b""
    try:
        deadline = time.monotonic() + 20
        while marker.encode() not in out:
            assert time.monotonic() < deadline, f"the step never printed {marker!r}: {out!r}"
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"shipline ended before the step started: {out!r}"
                out += chunk
        time.sleep(0.3)  # let the step's shell get to the command itself
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=15)
        return proc.returncode, time.monotonic() - interrupted, (out + rest).decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_until_gone(repo: Path, seconds: float = 3.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _processes_under(repo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_ctrl_c_stops_the_run_with_130_and_kills_the_step(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(SLEEPY.format(command="sleep 30"))

    code, seconds, out = _interrupt_while_running(cli, repo, "+ sleep 30")

    assert code == 130, out
    assert seconds < 5, f"took {seconds:.1f}s to stop"
    assert "stopping" in out
    assert cli.summary_row(1, "Sleepy", "cancelled").search(out)
    assert cli.summary_row(2, "Never", "not run").search(out)
    assert not cli.log_line("Never", "+ echo never").search(out)
    assert _wait_until_gone(repo) == []


def test_ctrl_c_kills_a_step_that_ignores_sigterm(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(SLEEPY.format(command="trap '' TERM INT; sleep 30"))

    code, seconds, out = _interrupt_while_running(cli, repo, "sleep 30")

    assert code == 130, out
    assert seconds < 8, f"took {seconds:.1f}s to stop"
    assert _wait_until_gone(repo) == []
