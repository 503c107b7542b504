"""End to end: a committed pipeline, shipline.local.prepare, the engine and the real shell."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from shipline.engine import (
    PipelineEngine,
    PipelineResult,
    PipelineStatus,
    RunContext,
    RunListener,
    StepResult,
    StepStatus,
)
from shipline.plan import Plan, StepSpec
from shipline.run.executor import OutputSink, StepJob
from shipline.run.shell import ShellExecutor, ShellStep


class Ran(Protocol):
    result: PipelineResult
    plan: Plan
    context: RunContext
    logs: dict[str, str]

    @property
    def status(self) -> dict[str, str]: ...


RunPipeline = Callable[..., Ran]
PrepareRun = Callable[..., tuple[Plan, RunContext]]
MakeRepo = Callable[..., Path]
GitIn = Callable[..., str]
Commit = Callable[..., str]

BRACED_UUID = re.compile(r"^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$")


def values(log: str) -> dict[str, str]:
    """`KEY=value` lines a script printed (echo lines excluded)."""
    found: dict[str, str] = {}
    for line in log.splitlines():
        if re.match(r"^[A-Z_]+=", line):
            key, _, value = line.partition("=")
            found[key] = value
    return found


def result_of(ran: Ran, name: str) -> StepResult:
    return next(ran.result.steps[s.id] for s in ran.plan.steps() if s.name == name)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while pid_alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


PRINT_VARS = """\
          - echo "COMMIT=$BITBUCKET_COMMIT"
          - echo "BRANCH=${BITBUCKET_BRANCH-unset}"
          - echo "TAG=${BITBUCKET_TAG-unset}"
          - echo "BUILD=$BITBUCKET_BUILD_NUMBER"
          - echo "CLONE=$BITBUCKET_CLONE_DIR"
          - echo "PWD=$PWD"
          - echo "SLUG=$BITBUCKET_REPO_SLUG"
          - echo "WORKSPACE=$BITBUCKET_WORKSPACE"
          - echo "FULL=$BITBUCKET_REPO_FULL_NAME"
          - echo "STEP_UUID=$BITBUCKET_STEP_UUID"
          - echo "PIPELINE_UUID=$BITBUCKET_PIPELINE_UUID"
          - echo "PARALLEL=${BITBUCKET_PARALLEL_STEP-unset}/${BITBUCKET_PARALLEL_STEP_COUNT-unset}"
          - echo "DEPLOYMENT=${BITBUCKET_DEPLOYMENT_ENVIRONMENT-unset}"
          - echo "PR=${BITBUCKET_PR_ID-unset}>${BITBUCKET_PR_DESTINATION_BRANCH-unset}"
          - echo "CI=$CI"
          - echo "HOME=$HOME"
          - echo "HEAD=$(git rev-parse HEAD)"
          - echo "CHECKED_OUT=$(git rev-parse --abbrev-ref HEAD)"
"""


def vars_pipeline(section: str = "default") -> str:
    return (
        f"pipelines:\n  {section}:\n    - step:\n        name: Vars\n        script:\n{PRINT_VARS}"
    )


# --- BITBUCKET_* variables ------------------------------------------------------------------


def test_variables_of_a_branch_run(
    make_repo: MakeRepo, git_in: GitIn, run_pipeline: RunPipeline, tmp_path: Path
) -> None:
    repo = make_repo(vars_pipeline(), branch="develop")
    sha = git_in(repo, "rev-parse", "HEAD").strip()
    ran = run_pipeline(repo=repo)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    seen = values(ran.logs["Vars"])
    assert seen["COMMIT"] == sha
    assert seen["HEAD"] == sha
    assert seen["BRANCH"] == "develop"
    assert seen["CHECKED_OUT"] == "develop"
    assert seen["TAG"] == "unset"
    assert seen["BUILD"] == "1"
    assert seen["CLONE"] == seen["PWD"]
    assert Path(seen["CLONE"]).name == "build"
    assert seen["SLUG"] == repo.name
    assert seen["WORKSPACE"] == "local"
    assert seen["FULL"] == f"local/{repo.name}"
    assert BRACED_UUID.match(seen["STEP_UUID"])
    assert BRACED_UUID.match(seen["PIPELINE_UUID"])
    assert seen["PARALLEL"] == "unset/unset"
    assert seen["DEPLOYMENT"] == "unset"
    assert seen["PR"] == "unset>unset"
    assert seen["CI"] == "true"
    assert seen["HOME"] == str(Path(seen["CLONE"]).parent / "home")
    assert seen["HOME"] != str(Path.home())


def test_slug_and_workspace_come_from_the_origin_remote(
    make_repo: MakeRepo, git_in: GitIn, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(vars_pipeline())
    git_in(repo, "remote", "add", "origin", "git@bitbucket.org:acme/webshop.git")
    seen = values(run_pipeline(repo=repo).logs["Vars"])
    assert (seen["WORKSPACE"], seen["SLUG"], seen["FULL"]) == ("acme", "webshop", "acme/webshop")


def test_build_number_increments_across_runs(
    make_repo: MakeRepo, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(vars_pipeline())
    numbers = [values(run_pipeline(repo=repo).logs["Vars"])["BUILD"] for _ in range(3)]
    assert numbers == ["1", "2", "3"]


def test_tag_run(make_repo: MakeRepo, git_in: GitIn, run_pipeline: RunPipeline) -> None:
    pipeline = (
        "pipelines:\n  tags:\n    'v*':\n"
        + "\n".join("  " + line for line in vars_pipeline().splitlines()[2:])
        + "\n"
    )
    repo = make_repo(pipeline)
    git_in(repo, "tag", "v1.4.0")
    ran = run_pipeline(repo=repo, tag="v1.4.0")
    assert ran.plan.pipeline == "tags.v*"
    seen = values(ran.logs["Vars"])
    assert seen["TAG"] == "v1.4.0"
    assert seen["BRANCH"] == "unset"
    assert seen["CHECKED_OUT"] == "HEAD"  # detached, as on Bitbucket


def test_pull_request_run(make_repo: MakeRepo, git_in: GitIn, run_pipeline: RunPipeline) -> None:
    pipeline = (
        "pipelines:\n  pull-requests:\n    '**':\n"
        + "\n".join("  " + line for line in vars_pipeline().splitlines()[2:])
        + "\n"
    )
    repo = make_repo(pipeline)
    git_in(repo, "checkout", "-q", "-b", "feature/login")
    ran = run_pipeline(repo=repo, pull_request=("42", "feature/login", "main"))
    seen = values(ran.logs["Vars"])
    assert seen["PR"] == "42>main"
    assert seen["BRANCH"] == "feature/login"
    assert seen["CHECKED_OUT"] == "feature/login"


def test_parallel_and_deployment_variables(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - parallel:
        steps:
          - step:
              name: Shard 0
              script:
                - echo "PARALLEL=$BITBUCKET_PARALLEL_STEP/$BITBUCKET_PARALLEL_STEP_COUNT"
                - echo "STEP_UUID=$BITBUCKET_STEP_UUID"
                - echo "PIPELINE_UUID=$BITBUCKET_PIPELINE_UUID"
          - step:
              name: Shard 1
              script:
                - echo "PARALLEL=$BITBUCKET_PARALLEL_STEP/$BITBUCKET_PARALLEL_STEP_COUNT"
                - echo "STEP_UUID=$BITBUCKET_STEP_UUID"
                - echo "PIPELINE_UUID=$BITBUCKET_PIPELINE_UUID"
    - step:
        name: Deploy
        deployment: staging
        script:
          - echo "DEPLOYMENT=$BITBUCKET_DEPLOYMENT_ENVIRONMENT"
          - echo "PARALLEL=${BITBUCKET_PARALLEL_STEP-unset}"
"""
    ran = run_pipeline(pipeline)
    shard0, shard1, deploy = (values(ran.logs[n]) for n in ("Shard 0", "Shard 1", "Deploy"))
    assert shard0["PARALLEL"] == "0/2"
    assert shard1["PARALLEL"] == "1/2"
    assert shard0["STEP_UUID"] != shard1["STEP_UUID"]
    assert shard0["PIPELINE_UUID"] == shard1["PIPELINE_UUID"]
    assert deploy == {"DEPLOYMENT": "staging", "PARALLEL": "unset"}


def test_custom_pipeline_variables_and_defaults(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  custom:
    release:
      - variables:
          - name: TARGET
            default: staging
            allowed-values: [staging, production]
          - name: VERSION
          - name: NOTES
            default: none
      - step:
          name: Release
          script:
            - echo "TARGET=$TARGET"
            - echo "VERSION=$VERSION"
            - echo "NOTES=$NOTES"
"""
    ran = run_pipeline(pipeline, custom="release", variables=(("VERSION", "1.2.3"),))
    assert values(ran.logs["Release"]) == {"TARGET": "staging", "VERSION": "1.2.3", "NOTES": "none"}


def test_home_is_private_per_step(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: One
        script:
          - echo "HOME=$HOME"
          - touch ~/marker
    - step:
        name: Two
        script:
          - echo "HOME=$HOME"
          - echo "MARKER=$(ls ~/marker 2>/dev/null || echo absent)"
"""
    ran = run_pipeline(pipeline)
    one, two = values(ran.logs["One"]), values(ran.logs["Two"])
    assert one["HOME"] != two["HOME"]
    assert two["MARKER"] == "absent"


# --- workspaces -----------------------------------------------------------------------------


def test_fresh_workspace_per_step(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Make
        script:
          - echo made > scratch.txt
          - echo edited >> tracked.txt
    - step:
        name: Look
        script:
          - echo "SCRATCH=$(cat scratch.txt 2>/dev/null || echo missing)"
          - echo "TRACKED=$(cat tracked.txt)"
          - echo "STATUS=$(git status --porcelain | wc -l)"
"""
    ran = run_pipeline(pipeline, files={"tracked.txt": "original\n"})
    assert values(ran.logs["Look"]) == {"SCRATCH": "missing", "TRACKED": "original", "STATUS": "0"}


def test_clone_depth_and_disabled_clone(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    pipeline = """\
clone:
  depth: 2
pipelines:
  default:
    - step:
        name: Shallow
        script:
          - echo "COUNT=$(git rev-list --count HEAD)"
    - step:
        name: Full
        clone:
          depth: full
        script:
          - echo "COUNT=$(git rev-list --count HEAD)"
    - step:
        name: None
        clone:
          enabled: false
        script:
          - echo "ENTRIES=$(ls -A | wc -l)"
          - echo "PWD_IS_CLONE=$([ "$PWD" = "$BITBUCKET_CLONE_DIR" ] && echo yes)"
"""
    repo = make_repo(pipeline)
    for n in range(4):
        commit(repo, {"n.txt": str(n)})
    ran = run_pipeline(repo=repo)
    assert ran.result.status is PipelineStatus.PASSED
    assert values(ran.logs["Shallow"]) == {"COUNT": "2"}
    assert values(ran.logs["Full"]) == {"COUNT": "5"}
    assert values(ran.logs["None"]) == {"ENTRIES": "0", "PWD_IS_CLONE": "yes"}


def test_uncommitted_changes_are_not_seen(make_repo: MakeRepo, run_pipeline: RunPipeline) -> None:
    pipeline = (
        "pipelines:\n  default:\n    - step:\n        name: Cat\n        script:\n"
        '          - echo "VALUE=$(cat value.txt)"\n'
    )
    repo = make_repo(pipeline, {"value.txt": "committed"})
    (repo / "value.txt").write_text("dirty")
    ran = run_pipeline(repo=repo)
    assert values(ran.logs["Cat"]) == {"VALUE": "committed"}


# --- script semantics through the engine ----------------------------------------------------


def test_failing_step_reports_the_real_exit_code(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Fails
        script:
          - echo start
          - exit 3
          - echo never
        after-script:
          - echo "after saw $BITBUCKET_EXIT_CODE"
          - exit 9
    - step:
        name: Skipped
        script:
          - echo no
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.FAILED
    failed = result_of(ran, "Fails")
    assert (failed.status, failed.exit_code, failed.after_script_exit_code) == (
        StepStatus.FAILED,
        3,
        9,
    )
    assert failed.reason == "script exited with code 3"
    assert ran.logs["Fails"] == (
        "+ echo start\nstart\n+ exit 3\n"
        "\nafter-script (BITBUCKET_EXIT_CODE=3)\n"
        '+ echo "after saw $BITBUCKET_EXIT_CODE"\nafter saw 3\n+ exit 9\n'
    )
    assert ran.status["Skipped"] == "not run"
    assert ran.logs["Skipped"] == ""


def test_after_script_failure_keeps_the_step_green(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Ok
        script:
          - "true"
        after-script:
          - missing-command-xyz
    - step:
        name: Next
        script:
          - echo next
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED
    ok = result_of(ran, "Ok")
    assert (ok.status, ok.exit_code, ok.after_script_exit_code) == (StepStatus.PASSED, 0, 127)


def test_command_not_found(run_pipeline: RunPipeline) -> None:
    pipeline = (
        "pipelines:\n  default:\n    - step:\n        name: X\n        script:\n"
        "          - definitely-not-installed-xyz\n"
    )
    ran = run_pipeline(pipeline)
    assert result_of(ran, "X").exit_code == 127
    assert result_of(ran, "X").reason == "script exited with code 127"


class QuickDeadlineShell(ShellExecutor):
    """The real shell executor with a 1.5 s deadline instead of max-time minutes."""

    def start(self, job: StepJob, output: OutputSink) -> ShellStep:
        return super().start(replace(job, max_seconds=1.5), output)


def test_time_out_through_the_engine(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Slow
        max-time: 1
        script:
          - sleep 300 &
          - echo "BG=$!"
          - sleep 60
    - step:
        name: Next
        script:
          - echo next
"""
    started = time.monotonic()
    ran = run_pipeline(pipeline, executor=QuickDeadlineShell())
    assert time.monotonic() - started < 6
    slow = result_of(ran, "Slow")
    assert slow.status is StepStatus.FAILED
    assert slow.reason == "timed out: exceeded max-time of 1 minute"
    assert ran.logs["Slow"].endswith(
        "[shipline] step exceeded its max-time of 1 minute(s); every process it started was "
        "killed\n"
    )
    assert wait_dead(int(values(ran.logs["Slow"])["BG"]))
    assert ran.status["Next"] == "not run"


def test_large_output_is_kept_whole_in_the_log(run_pipeline: RunPipeline) -> None:
    pipeline = (
        "pipelines:\n  default:\n    - step:\n        name: Loud\n        script:\n"
        "          - seq 1 720000\n"
    )
    ran = run_pipeline(pipeline)
    expected = "+ seq 1 720000\n" + "".join(f"{n}\n" for n in range(1, 720001))
    assert len(expected) > 4_900_000
    assert ran.logs["Loud"] == expected
    log_path = result_of(ran, "Loud").log_path
    assert log_path is not None
    assert log_path.name == "01-loud.log"
    assert log_path.parent == ran.context.log_dir


# --- artifacts ------------------------------------------------------------------------------

ARTIFACTS = """\
pipelines:
  default:
    - step:
        name: Build
        script:
          - mkdir -p dist/lib reports/unit out
          - echo app > dist/app.bin
          - echo lib > dist/lib/deep.so
          - echo xml > reports/unit/result.xml
          - echo skip > out/ignored.txt
          - echo log > build.log
        artifacts:
          - dist/**
          - reports
          - "*.log"
    - parallel:
        steps:
          - step:
              name: Uses build
              script:
                - echo "APP=$(cat dist/app.bin)"
                - echo "DEEP=$(cat dist/lib/deep.so)"
                - echo "XML=$(cat reports/unit/result.xml)"
                - echo "LOG=$(cat build.log)"
                - echo "OUT=$(cat out/ignored.txt 2>/dev/null || echo missing)"
                - echo "SIBLING=$(cat sibling.txt 2>/dev/null || echo missing)"
          - step:
              name: Sibling
              script:
                - echo made-by-sibling > sibling.txt
              artifacts:
                - sibling.txt
          - step:
              name: No download
              artifacts:
                download: false
              script:
                - echo "APP=$(cat dist/app.bin 2>/dev/null || echo missing)"
    - step:
        name: After group
        script:
          - echo "SIBLING=$(cat sibling.txt)"
          - echo "APP=$(cat dist/app.bin)"
"""


def test_artifacts_flow_between_steps(run_pipeline: RunPipeline) -> None:
    ran = run_pipeline(ARTIFACTS)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert sorted(result_of(ran, "Build").artifacts) == [
        "build.log",
        "dist/app.bin",
        "dist/lib/deep.so",
        "reports/unit/result.xml",
    ]
    assert values(ran.logs["Uses build"]) == {
        "APP": "app",
        "DEEP": "lib",
        "XML": "xml",
        "LOG": "log",
        "OUT": "missing",
        "SIBLING": "missing",
    }
    assert values(ran.logs["No download"]) == {"APP": "missing"}
    assert values(ran.logs["After group"]) == {"SIBLING": "made-by-sibling", "APP": "app"}
    assert "[shipline] artifacts: kept 4 file(s)" in ran.logs["Build"]
    # artifacts are kept after the run, per producing step
    build_id = next(s.id for s in ran.plan.steps() if s.name == "Build")
    store = ran.context.artifact_dir / build_id
    assert (store / "dist" / "lib" / "deep.so").read_text() == "lib\n"


def test_artifacts_of_a_failed_step_reach_the_final_step(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Tests
        script:
          - mkdir -p reports
          - echo "3 failures" > reports/junit.txt
          - exit 1
        artifacts:
          - reports/**
    - step:
        name: Never
        script:
          - echo never
    - final:
        name: Publish
        script:
          - echo "REPORT=$(cat reports/junit.txt)"
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {"Tests": "failed", "Never": "not run", "Publish": "passed"}
    assert result_of(ran, "Tests").artifacts == ["reports/junit.txt"]
    assert values(ran.logs["Publish"]) == {"REPORT": "3 failures"}


# --- caches ---------------------------------------------------------------------------------

CACHES = """\
definitions:
  caches:
    deps:
      key:
        files:
          - requirements.txt
      path: vendor
pipelines:
  default:
    - step:
        name: Fill
        caches:
          - pip
          - deps
        script:
          - echo "PIP_BEFORE=$(cat ~/.cache/pip/run 2>/dev/null || echo empty)"
          - echo "DEPS_BEFORE=$(cat vendor/run 2>/dev/null || echo empty)"
          - mkdir -p ~/.cache/pip vendor
          - echo "$BITBUCKET_BUILD_NUMBER" > ~/.cache/pip/run
          - echo "$BITBUCKET_BUILD_NUMBER" > vendor/run
          - test "$FAIL" != yes
"""


def cache_dirs(context: RunContext) -> list[str]:
    return sorted(p.name for p in context.cache_dir.iterdir()) if context.cache_dir.exists() else []


def test_caches_restore_save_and_survive_runs(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(CACHES, {"requirements.txt": "requests==2.0\n"})

    first = run_pipeline(repo=repo, variables=(("FAIL", "yes"),))
    assert first.result.status is PipelineStatus.FAILED
    assert values(first.logs["Fill"]) == {"PIP_BEFORE": "empty", "DEPS_BEFORE": "empty"}
    assert "[shipline] caches not saved: the step did not succeed" in first.logs["Fill"]
    assert cache_dirs(first.context) == []

    second = run_pipeline(repo=repo)
    assert second.result.status is PipelineStatus.PASSED
    assert values(second.logs["Fill"]) == {"PIP_BEFORE": "empty", "DEPS_BEFORE": "empty"}
    assert "[shipline] cache pip: saved" in second.logs["Fill"]
    assert "[shipline] cache deps: saved" in second.logs["Fill"]
    names = cache_dirs(second.context)
    assert names[1] == "pip"
    assert re.fullmatch(r"deps-[0-9a-f]{16}", names[0])
    assert (second.context.cache_dir / "pip" / "run").read_text() == "2\n"

    third = run_pipeline(repo=repo)  # restored, and the stored copy is not overwritten
    assert values(third.logs["Fill"]) == {"PIP_BEFORE": "2", "DEPS_BEFORE": "2"}
    assert "[shipline] cache pip: restored" in third.logs["Fill"]
    assert "[shipline] cache pip: kept (already present)" in third.logs["Fill"]
    assert (third.context.cache_dir / "pip" / "run").read_text() == "2\n"

    commit(repo, {"requirements.txt": "requests==3.0\n"})  # new key: a new, empty deps cache
    fourth = run_pipeline(repo=repo)
    assert values(fourth.logs["Fill"]) == {"PIP_BEFORE": "2", "DEPS_BEFORE": "empty"}
    assert len(cache_dirs(fourth.context)) == 3


def test_absolute_cache_paths_are_skipped_with_a_message(run_pipeline: RunPipeline) -> None:
    pipeline = """\
definitions:
  caches:
    system:
      path: /opt/shipline-test-cache
pipelines:
  default:
    - step:
        name: Abs
        caches: [system]
        script:
          - "true"
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED
    assert (
        "[shipline] cache system: absolute path /opt/shipline-test-cache is skipped on this "
        "executor\n"
    ) in ran.logs["Abs"]


# --- parallelism, gates, cancel, errors -----------------------------------------------------


def test_parallel_shell_steps_really_overlap(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - parallel:
        steps:
          - step:
              name: Sleep A
              script:
                - sleep 1
          - step:
              name: Sleep B
              script:
                - sleep 1
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED
    assert ran.result.duration < 2.0  # one after another: at least 2 s
    a, b = result_of(ran, "Sleep A"), result_of(ran, "Sleep B")
    starts = [r.started_at for r in (a, b) if r.started_at is not None]
    ends = [r.finished_at for r in (a, b) if r.finished_at is not None]
    assert len(starts) == len(ends) == 2
    assert max(starts) < min(ends)


def test_parallel_failure_with_real_shell_fail_fast(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - parallel:
        fail-fast: true
        steps:
          - step:
              name: Breaks
              script:
                - sleep 0.2
                - exit 1
          - step:
              name: Long
              script:
                - sleep 60
"""
    started = time.monotonic()
    ran = run_pipeline(pipeline)
    assert time.monotonic() - started < 5
    assert ran.status == {"Breaks": "failed", "Long": "cancelled"}
    assert result_of(ran, "Long").reason == "fail-fast: 'Breaks' failed"


def test_manual_step_with_the_real_shell(run_pipeline: RunPipeline, make_repo: MakeRepo) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Build
        script: [echo build]
    - step:
        name: Ship
        trigger: manual
        script: [echo shipped]
"""
    repo = make_repo(pipeline)
    paused = run_pipeline(repo=repo)
    assert paused.result.status is PipelineStatus.PAUSED
    assert paused.logs["Ship"] == ""
    resumed = run_pipeline(repo=repo, run_manual=True)
    assert resumed.result.status is PipelineStatus.PASSED
    assert resumed.logs["Ship"] == "+ echo shipped\nshipped\n"


class CancelWhenOutput(RunListener):
    """Cancels the engine from another thread once a step printed `marker`."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self.seen = b""
        self.engine: PipelineEngine | None = None
        self.cancelled_at: float | None = None

    def step_output(self, step: StepSpec, data: bytes) -> None:
        self.seen += data
        if self.marker in self.seen and self.cancelled_at is None and self.engine is not None:
            self.cancelled_at = time.monotonic()
            threading.Thread(target=self.engine.cancel).start()


def test_engine_cancel_kills_the_running_shell_step(prepare_run: PrepareRun) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Forever
        script:
          - sleep 300 &
          - echo $! > "$BITBUCKET_CLONE_DIR/../../../bg.pid"
          - sleep 300
    - step:
        name: Later
        script: [echo later]
"""
    plan, context = prepare_run(pipeline)
    listener = CancelWhenOutput("+ sleep 300\n")
    engine = PipelineEngine(plan, context, ShellExecutor(), listener)
    listener.engine = engine
    result = engine.run()
    assert listener.cancelled_at is not None
    assert time.monotonic() - listener.cancelled_at < 5
    assert result.status is PipelineStatus.CANCELLED
    assert [str(r.status) for r in result.steps.values()] == ["cancelled", "not run"]
    assert wait_dead(int((context.run_dir / "bg.pid").read_text()))


def test_executor_start_failure_is_a_failed_step(run_pipeline: RunPipeline) -> None:
    executor = ShellExecutor()
    executor.bash = "/nonexistent/shipline/bash"
    pipeline = "pipelines:\n  default:\n    - step:\n        name: X\n        script: [echo x]\n"
    ran = run_pipeline(pipeline, executor=executor)
    assert ran.result.status is PipelineStatus.FAILED
    result = result_of(ran, "X")
    assert result.status is StepStatus.FAILED
    assert result.reason.startswith("cannot start /nonexistent/shipline/bash:")
    assert ran.logs["X"].startswith("[shipline] error: cannot start /nonexistent/shipline/bash:")


def test_yaml_script_items_form_one_script(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Script
        script:
          - export NAME=shipline
          - if [ -n "$NAME" ]; then
          - echo "has name"
          - fi
          - case "$NAME" in
          - "  ship*) echo matched;;"
          - esac
          - |
            for part in a b; do
              echo "part $part"
            done
          - echo "NAME=$NAME"
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert ran.logs["Script"] == (
        "+ export NAME=shipline\n"
        '+ if [ -n "$NAME" ]; then\necho "has name"\nfi\nhas name\n'
        '+ case "$NAME" in\n  ship*) echo matched;;\nesac\nmatched\n'
        '+ for part in a b; do\n  echo "part $part"\ndone\npart a\npart b\n'
        '+ echo "NAME=$NAME"\nNAME=shipline\n'
    )


def test_parallel_artifact_conflicts_go_to_the_step_written_last(
    run_pipeline: RunPipeline,
) -> None:
    pipeline = """\
pipelines:
  default:
    - parallel:
        steps:
          - step:
              name: First in file, finishes last
              script:
                - sleep 0.5
                - echo first > shared.txt
                - echo first > first-only.txt
              artifacts: [shared.txt, first-only.txt]
          - step:
              name: Second in file, finishes first
              script:
                - echo second > shared.txt
              artifacts: [shared.txt]
    - step:
        name: Reader
        script:
          - echo "SHARED=$(cat shared.txt)"
          - echo "FIRST=$(cat first-only.txt)"
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert values(ran.logs["Reader"]) == {"SHARED": "second", "FIRST": "first"}


def test_special_files_in_the_workspace_do_not_break_the_run(run_pipeline: RunPipeline) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Odd files
        caches: [node]
        script:
          - mkdir -p out node_modules
          - mkfifo out/fifo node_modules/fifo
          - echo real > out/real.txt
        artifacts:
          - out/**
    - step:
        name: Next
        script:
          - echo "FILES=$(ls out | tr '\\n' ' ')"
"""
    ran = run_pipeline(pipeline)
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    assert result_of(ran, "Odd files").artifacts == ["out/real.txt"]
    assert "[shipline] cache node: saved" in ran.logs["Odd files"]
    assert values(ran.logs["Next"]) == {"FILES": "real.txt "}


def test_local_run_layout(
    make_repo: MakeRepo, git_in: GitIn, prepare_run: PrepareRun, tmp_path: Path
) -> None:
    repo = make_repo(vars_pipeline(), {"README": "x"})
    (repo / "README").write_text("edited, not committed")
    plan, context = prepare_run(repo=repo)
    data = tmp_path / "data"
    assert (data / ".gitignore").read_text() == "# Shipline's local data\n*\n"
    assert (data / "local" / "build-number").read_text() == "1"
    assert context.run_dir == data / "local" / "runs" / "1"
    assert context.cache_dir == data / "local" / "caches"
    assert context.source.commit == git_in(repo, "rev-parse", "HEAD").strip()
    assert context.source.branch == "main"
    assert context.changed_files is None  # a root commit: nothing to compare against
    assert plan.pipeline == "default"


def test_paths_with_spaces_and_quotes(run_pipeline: RunPipeline, tmp_path: Path) -> None:
    pipeline = """\
pipelines:
  default:
    - step:
        name: Spaces
        caches: [pip]
        script:
          - mkdir -p ~/.cache/pip out && echo x > out/a.txt
          - echo "CLONE=$BITBUCKET_CLONE_DIR"
        after-script:
          - echo "AFTER=$BITBUCKET_EXIT_CODE"
        artifacts: [out/**]
"""
    ran = run_pipeline(pipeline, data=tmp_path / "it's a data dir")
    assert ran.result.status is PipelineStatus.PASSED, ran.logs
    seen = values(ran.logs["Spaces"])
    assert "it's a data dir" in seen["CLONE"]
    assert seen["AFTER"] == "0"
    assert result_of(ran, "Spaces").artifacts == ["out/a.txt"]


def test_manual_step_whose_condition_does_not_hold_is_skipped_not_waited_for(
    run_pipeline: Any, make_repo: Any, commit: Any
) -> None:
    """A manual deploy that only matters for docs changes must not pause a code change."""
    repo = make_repo(
        """
pipelines:
  default:
    - step:
        name: Build
        script: [echo build]
    - step:
        name: Publish docs
        trigger: manual
        condition:
          changesets:
            includePaths: ["docs/**"]
        script: [echo docs]
    - step:
        name: After
        script: [echo after]
"""
    )
    commit(repo, {"src/app.py": "print(1)\n"})
    ran = run_pipeline(repo=repo)
    statuses = {s.name: ran.result.steps[s.id].status.value for s in ran.plan.steps()}
    assert statuses == {"Build": "passed", "Publish docs": "skipped", "After": "passed"}
    assert ran.result.status.value == "passed"


PR_PIPELINE = """
pipelines:
  pull-requests:
    '**':
      - step:
          name: Check merge
          script:
            - cat from-main.txt from-feature.txt
            - git log --oneline -3
"""


def test_pull_request_runs_on_the_merge_of_the_destination_into_the_source(
    run_pipeline: Any, make_repo: Any, commit: Any, git_in: Any
) -> None:
    """Bitbucket merges the destination branch into the working branch before it runs."""
    repo = make_repo(PR_PIPELINE)
    git_in(repo, "checkout", "-q", "-b", "feature/x")
    commit(repo, {"from-feature.txt": "feature work\n"})
    git_in(repo, "checkout", "-q", "main")
    commit(repo, {"from-main.txt": "main moved on\n"})
    git_in(repo, "checkout", "-q", "feature/x")

    ran = run_pipeline(repo=repo, pull_request=("7", "feature/x", "main"))

    log = ran.logs["Check merge"]
    assert ran.result.status.value == "passed", log
    assert "main moved on" in log
    assert "feature work" in log


def test_a_pull_request_that_does_not_merge_stops_with_the_conflicting_files(
    run_pipeline: Any, make_repo: Any, commit: Any, git_in: Any
) -> None:
    repo = make_repo(PR_PIPELINE, files={"shared.txt": "base\n"})
    git_in(repo, "checkout", "-q", "-b", "feature/y")
    commit(repo, {"shared.txt": "feature version\n"})
    git_in(repo, "checkout", "-q", "main")
    commit(repo, {"shared.txt": "main version\n"})
    git_in(repo, "checkout", "-q", "feature/y")

    ran = run_pipeline(repo=repo, pull_request=("8", "feature/y", "main"))

    step = ran.result.steps[ran.plan.items[0].id]
    assert ran.result.status.value == "failed"
    assert "merging destination branch 'main' into the pull request failed" in step.reason
    assert "shared.txt" in step.reason
