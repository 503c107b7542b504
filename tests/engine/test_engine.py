"""Engine logic with the FakeExecutor: order, parallelism, gates, fail-fast, final, cancel."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

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
from shipline.run.fake import FakeBehaviour, FakeExecutor


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
Commit = Callable[..., str]


def step_yaml(name: str, indent: int = 4, extra: str = "") -> str:
    pad = " " * indent
    text = f"{pad}- step:\n{pad}    name: {name}\n{pad}    script:\n{pad}      - echo {name}\n"
    return text + "".join(f"{pad}    {line}\n" for line in extra.splitlines())


def pipeline(*items: str) -> str:
    return "pipelines:\n  default:\n" + "".join(items)


def parallel(*steps: str, fail_fast: bool | None = None) -> str:
    head = "    - parallel:\n"
    if fail_fast is not None:
        head += f"        fail-fast: {str(fail_fast).lower()}\n"
    return head + "        steps:\n" + "".join(steps)


def pstep(name: str, extra: str = "") -> str:
    return step_yaml(name, indent=10, extra=extra)


def result_of(ran: Ran, name: str) -> StepResult:
    return next(ran.result.steps[s.id] for s in ran.plan.steps() if s.name == name)


class Recorder(RunListener):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def _add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def pipeline_started(self, plan: Plan) -> None:
        self._add(f"pipeline:{plan.pipeline}")

    def step_started(self, step: StepSpec) -> None:
        self._add(f"start:{step.name}")

    def step_finished(self, step: StepSpec, result: StepResult) -> None:
        self._add(f"finish:{step.name}:{result.status}")

    def pipeline_finished(self, result: PipelineResult) -> None:
        self._add(f"done:{result.status}")


# --- sequence and failure -------------------------------------------------------------------


def test_steps_run_in_order_with_the_full_lifecycle(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    recorder = Recorder()
    ran = run_pipeline(
        pipeline(step_yaml("A"), step_yaml("B"), step_yaml("C")),
        executor=fake,
        listener=recorder,
    )
    assert ran.result.status is PipelineStatus.PASSED
    assert ran.status == {"A": "passed", "B": "passed", "C": "passed"}
    assert fake.calls == [
        (call, name) for name in "ABC" for call in ("prepare", "start", "destroy")
    ]
    assert recorder.events == [
        "pipeline:default",
        "start:A",
        "finish:A:passed",
        "start:B",
        "finish:B:passed",
        "start:C",
        "finish:C:passed",
        "done:passed",
    ]
    assert ran.result.paused_before is None


def test_a_failed_step_stops_the_pipeline(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"B": FakeBehaviour(exit_code=2, output=b"boom\n")})
    ran = run_pipeline(
        pipeline(step_yaml("A"), step_yaml("B"), step_yaml("C"), parallel(pstep("D"), pstep("E"))),
        executor=fake,
    )
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {
        "A": "passed",
        "B": "failed",
        "C": "not run",
        "D": "not run",
        "E": "not run",
    }
    failed = result_of(ran, "B")
    assert failed.exit_code == 2
    assert failed.reason == "script exited with code 2"
    assert result_of(ran, "C").reason == "an earlier step failed"
    assert ran.logs["B"] == "boom\n"
    assert ("prepare", "C") not in fake.calls


def test_results_carry_times_and_log_paths(run_pipeline: RunPipeline) -> None:
    ran = run_pipeline(
        pipeline(step_yaml("Only name")),
        executor=FakeExecutor({"Only name": FakeBehaviour(seconds=0.1)}),
    )
    result = result_of(ran, "Only name")
    assert result.duration is not None
    assert 0.1 <= result.duration < 1
    assert result.log_path == ran.context.log_dir / "01-only-name.log"
    assert ran.result.duration >= result.duration


def test_variables_reach_the_job(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    run_pipeline(
        pipeline(step_yaml("A", extra="deployment: test")),
        executor=fake,
        variables=(("EXTRA", "1"),),
    )
    env = fake.jobs["A"].env
    assert env["EXTRA"] == "1"
    assert env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] == "test"
    assert fake.jobs["A"].max_seconds == 120 * 60


def test_max_time_becomes_the_job_deadline(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    run_pipeline(pipeline(step_yaml("A", extra="max-time: 3")), executor=fake)
    assert fake.jobs["A"].max_seconds == 180.0


def test_after_script_failure_leaves_the_step_passed(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"A": FakeBehaviour(after_script_exit_code=9)})
    ran = run_pipeline(pipeline(step_yaml("A"), step_yaml("B")), executor=fake)
    assert ran.status == {"A": "passed", "B": "passed"}
    assert result_of(ran, "A").after_script_exit_code == 9


def test_prepare_failure_is_a_failed_step_and_destroy_still_runs(
    run_pipeline: RunPipeline,
) -> None:
    fake = FakeExecutor({"B": FakeBehaviour(fail_prepare="image acme/tool:9 not found")})
    ran = run_pipeline(pipeline(step_yaml("A"), step_yaml("B"), step_yaml("C")), executor=fake)
    assert ran.result.status is PipelineStatus.FAILED
    result = result_of(ran, "B")
    assert result.status is StepStatus.FAILED
    assert result.reason == "image acme/tool:9 not found"
    assert ran.logs["B"] == "[shipline] error: image acme/tool:9 not found\n"
    assert [c for c in fake.calls if c[1] == "B"] == [("prepare", "B"), ("destroy", "B")]
    assert result_of(ran, "C").status is StepStatus.NOT_RUN


def test_workspaces_are_removed_after_the_run(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"A": FakeBehaviour(files={"out.txt": "x"})})
    ran = run_pipeline(pipeline(step_yaml("A")), executor=fake)
    job = fake.jobs["A"]
    assert not job.dirs.root.exists()
    assert sorted(p.name for p in ran.context.run_dir.iterdir()) == ["logs"]


def test_keep_workspaces(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"A": FakeBehaviour(files={"out.txt": "x"})})
    run_pipeline(pipeline(step_yaml("A")), executor=fake, keep_workspaces=True)
    assert (fake.jobs["A"].dirs.clone / "out.txt").read_text() == "x"


# --- parallel -------------------------------------------------------------------------------


def test_parallel_steps_run_concurrently(run_pipeline: RunPipeline) -> None:
    slow = FakeBehaviour(seconds=0.6)
    fake = FakeExecutor({"P1": slow, "P2": slow, "P3": slow})
    ran = run_pipeline(
        pipeline(parallel(pstep("P1"), pstep("P2"), pstep("P3")), step_yaml("After")),
        executor=fake,
    )
    assert ran.result.status is PipelineStatus.PASSED
    assert fake.max_running == 3
    assert ran.result.duration < 1.8  # one after another: at least 3 × 0.6 s
    assert fake.calls.index(("start", "After")) > max(
        fake.calls.index(("destroy", name)) for name in ("P1", "P2", "P3")
    )


def test_max_parallel_limits_concurrency(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(parallel(pstep("P1"), pstep("P2"), pstep("P3"))))
    fake = FakeExecutor({name: FakeBehaviour(seconds=0.1) for name in ("P1", "P2", "P3")})
    limited = dataclasses.replace(context, max_parallel=1)
    result = PipelineEngine(plan, limited, fake).run()
    assert result.status is PipelineStatus.PASSED
    assert fake.max_running == 1


def test_siblings_finish_when_one_fails_without_fail_fast(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"Bad": FakeBehaviour(exit_code=1), "Slow": FakeBehaviour(seconds=0.5)})
    ran = run_pipeline(
        pipeline(parallel(pstep("Bad"), pstep("Slow")), step_yaml("Next")), executor=fake
    )
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {"Bad": "failed", "Slow": "passed", "Next": "not run"}


def test_group_fail_fast_stops_the_siblings(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor(
        {"Bad": FakeBehaviour(exit_code=1, seconds=0.2), "Slow": FakeBehaviour(seconds=30)}
    )
    started = time.monotonic()
    ran = run_pipeline(
        pipeline(parallel(pstep("Bad"), pstep("Slow"), fail_fast=True), step_yaml("Next")),
        executor=fake,
    )
    assert time.monotonic() - started < 5
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {"Bad": "failed", "Slow": "cancelled", "Next": "not run"}
    assert result_of(ran, "Slow").reason == "fail-fast: 'Bad' failed"


def test_step_fail_fast_only_for_that_step(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor(
        {
            "Strict": FakeBehaviour(exit_code=1, seconds=0.1),
            "Slow": FakeBehaviour(seconds=30),
        }
    )
    started = time.monotonic()
    ran = run_pipeline(
        pipeline(parallel(pstep("Strict", "fail-fast: true"), pstep("Slow"))), executor=fake
    )
    assert time.monotonic() - started < 5
    assert ran.status == {"Strict": "failed", "Slow": "cancelled"}


def test_a_failing_step_without_fail_fast_does_not_stop_a_fail_fast_sibling(
    run_pipeline: RunPipeline,
) -> None:
    fake = FakeExecutor({"Loose": FakeBehaviour(exit_code=1), "Guard": FakeBehaviour(seconds=0.4)})
    ran = run_pipeline(
        pipeline(parallel(pstep("Loose"), pstep("Guard", "fail-fast: true"))), executor=fake
    )
    assert ran.status == {"Loose": "failed", "Guard": "passed"}


def test_step_fail_fast_false_overrides_the_group(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor(
        {"Metrics": FakeBehaviour(exit_code=1), "Tests": FakeBehaviour(seconds=0.4)}
    )
    ran = run_pipeline(
        pipeline(parallel(pstep("Metrics", "fail-fast: false"), pstep("Tests"), fail_fast=True)),
        executor=fake,
    )
    assert ran.status == {"Metrics": "failed", "Tests": "passed"}


def test_fail_fast_cancels_siblings_that_have_not_started(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(parallel(pstep("Bad"), pstep("Queued"), fail_fast=True)))
    fake = FakeExecutor({"Bad": FakeBehaviour(exit_code=1)})
    result = PipelineEngine(plan, dataclasses.replace(context, max_parallel=1), fake).run()
    assert result.status is PipelineStatus.FAILED
    queued = result.steps[next(s.id for s in plan.steps() if s.name == "Queued")]
    assert queued.status is StepStatus.CANCELLED
    assert queued.reason == "fail-fast: 'Bad' failed"
    assert ("start", "Queued") not in fake.calls


# --- manual gates and stages ----------------------------------------------------------------


def test_manual_step_pauses_the_pipeline(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    ran = run_pipeline(
        pipeline(
            step_yaml("Build"),
            step_yaml("Deploy", extra="trigger: manual"),
            step_yaml("Verify"),
            "    - final:\n        name: Cleanup\n        script:\n          - echo bye\n",
        ),
        executor=fake,
    )
    assert ran.result.status is PipelineStatus.PAUSED
    deploy = next(s for s in ran.plan.steps() if s.name == "Deploy")
    assert ran.result.paused_before == deploy.id
    assert ran.status == {
        "Build": "passed",
        "Deploy": "paused",
        "Verify": "not run",
        "Cleanup": "not run",
    }
    assert result_of(ran, "Deploy").reason == "waiting for a manual trigger"
    assert result_of(ran, "Verify").reason == "the pipeline is paused at a manual step"
    assert {name for _, name in fake.calls} == {"Build"}


def test_run_manual_runs_through_the_gate(run_pipeline: RunPipeline) -> None:
    ran = run_pipeline(
        pipeline(step_yaml("Build"), step_yaml("Deploy", extra="trigger: manual")),
        executor=FakeExecutor(),
        run_manual=True,
    )
    assert ran.result.status is PipelineStatus.PASSED
    assert ran.status == {"Build": "passed", "Deploy": "passed"}


STAGES = """\
pipelines:
  default:
    - step:
        name: Build
        script: [echo build]
    - stage:
        name: Staging
        deployment: staging
        steps:
          - step:
              name: Migrate
              script: [echo migrate]
          - step:
              name: Smoke
              script: [echo smoke]
    - stage:
        name: Production
        deployment: production
        trigger: manual
        steps:
          - step:
              name: Release
              script: [echo release]
          - step:
              name: Announce
              script: [echo announce]
"""


def test_stages_run_steps_in_order_and_stop_at_a_manual_stage(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    ran = run_pipeline(STAGES, executor=fake)
    assert ran.result.status is PipelineStatus.PAUSED
    assert ran.status == {
        "Build": "passed",
        "Migrate": "passed",
        "Smoke": "passed",
        "Release": "paused",
        "Announce": "not run",
    }
    assert [name for call, name in fake.calls if call == "start"] == ["Build", "Migrate", "Smoke"]
    assert fake.jobs["Migrate"].env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] == "staging"


def test_a_failure_inside_a_stage_stops_it(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"Migrate": FakeBehaviour(exit_code=4)})
    ran = run_pipeline(STAGES, executor=fake, run_manual=True)
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {
        "Build": "passed",
        "Migrate": "failed",
        "Smoke": "not run",
        "Release": "not run",
        "Announce": "not run",
    }


def test_manual_stage_runs_with_run_manual(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor()
    ran = run_pipeline(STAGES, executor=fake, run_manual=True)
    assert ran.result.status is PipelineStatus.PASSED
    assert [name for call, name in fake.calls if call == "start"] == [
        "Build",
        "Migrate",
        "Smoke",
        "Release",
        "Announce",
    ]


# --- final step -----------------------------------------------------------------------------

FINAL = "    - final:\n        name: Cleanup\n        script:\n          - echo cleanup\n"


def test_final_step_runs_after_a_failure(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"A": FakeBehaviour(exit_code=1)})
    ran = run_pipeline(pipeline(step_yaml("A"), step_yaml("B"), FINAL), executor=fake)
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {"A": "failed", "B": "not run", "Cleanup": "passed"}


def test_final_step_failure_fails_the_pipeline(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"Cleanup": FakeBehaviour(exit_code=1)})
    ran = run_pipeline(pipeline(step_yaml("A"), FINAL), executor=fake)
    assert ran.result.status is PipelineStatus.FAILED
    assert ran.status == {"A": "passed", "Cleanup": "failed"}


# --- changesets -----------------------------------------------------------------------------

CHANGESETS = """\
pipelines:
  default:
    - step:
        name: Backend
        condition:
          changesets:
            includePaths:
              - "backend/**"
        script: [echo backend]
    - step:
        name: Frontend
        condition:
          changesets:
            includePaths:
              - "frontend/**"
              - "package.json"
        script: [echo frontend]
    - step:
        name: Not only docs
        condition:
          changesets:
            excludePaths:
              - "docs/**"
        script: [echo code]
    - stage:
        name: Docs
        condition:
          changesets:
            includePaths: ["docs/**"]
        steps:
          - step:
              name: Publish docs
              script: [echo docs]
    - step:
        name: Always
        script: [echo always]
"""


def test_changesets_against_the_previous_commit(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(CHANGESETS, {"backend/app.py": "1", "frontend/app.js": "1", "docs/a.md": "1"})
    commit(repo, {"backend/app.py": "2", "docs/a.md": "2"}, "backend and docs")
    ran = run_pipeline(repo=repo, executor=FakeExecutor())
    assert ran.context.changed_files == ("backend/app.py", "docs/a.md")
    assert ran.status == {
        "Backend": "passed",
        "Frontend": "skipped",
        "Not only docs": "passed",
        "Publish docs": "passed",
        "Always": "passed",
    }
    assert result_of(ran, "Frontend").reason == "condition.changesets: no matching file changed"
    assert ran.result.status is PipelineStatus.PASSED


def test_changesets_only_docs(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(CHANGESETS, {"backend/app.py": "1", "docs/a.md": "1"})
    commit(repo, {"docs/a.md": "2", "docs/b.md": "new"}, "docs only")
    recorder = Recorder()
    ran = run_pipeline(repo=repo, executor=FakeExecutor(), listener=recorder)
    assert ran.status == {
        "Backend": "skipped",
        "Frontend": "skipped",
        "Not only docs": "skipped",
        "Publish docs": "passed",
        "Always": "passed",
    }
    assert "finish:Backend:skipped" in recorder.events
    assert "start:Backend" not in recorder.events


def test_changesets_skip_a_whole_stage(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(CHANGESETS, {"package.json": "{}"})
    commit(repo, {"package.json": '{"name": "x"}'})
    ran = run_pipeline(repo=repo, executor=FakeExecutor())
    assert ran.status["Frontend"] == "passed"
    assert ran.status["Publish docs"] == "skipped"
    assert result_of(ran, "Publish docs").reason == (
        "stage 'Docs': condition.changesets did not hold"
    )


def test_changesets_hold_on_a_root_commit(run_pipeline: RunPipeline) -> None:
    ran = run_pipeline(CHANGESETS, executor=FakeExecutor())
    assert ran.context.changed_files is None
    assert set(ran.status.values()) == {"passed"}


def test_deleted_files_count_as_changes(
    make_repo: MakeRepo, commit: Commit, run_pipeline: RunPipeline
) -> None:
    repo = make_repo(CHANGESETS, {"frontend/old.js": "1", "docs/a.md": "1"})
    commit(repo, {"frontend/old.js": None})
    ran = run_pipeline(repo=repo, executor=FakeExecutor())
    assert ran.status["Frontend"] == "passed"
    assert ran.status["Backend"] == "skipped"


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_from_another_thread(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(step_yaml("Long"), step_yaml("Later"), FINAL))
    fake = FakeExecutor({"Long": FakeBehaviour(seconds=30)})
    engine = PipelineEngine(plan, context, fake)
    timer = threading.Timer(0.3, engine.cancel)
    started = time.monotonic()
    timer.start()
    result = engine.run()
    timer.join()
    assert time.monotonic() - started < 5
    assert result.status is PipelineStatus.CANCELLED
    statuses = {plan.step(sid).name: str(r.status) for sid, r in result.steps.items()}
    assert statuses == {"Long": "cancelled", "Later": "not run", "Cleanup": "not run"}
    long = next(s for s in plan.steps() if s.name == "Long")
    assert result.steps[long.id].reason == "stopped"
    later = next(s for s in plan.steps() if s.name == "Later")
    assert result.steps[later.id].reason == "the pipeline was stopped"
    assert {name for _, name in fake.calls} == {"Long"}


def test_cancel_during_a_parallel_group(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(parallel(pstep("P1"), pstep("P2")), step_yaml("Next")))
    slow = FakeBehaviour(seconds=30)
    engine = PipelineEngine(plan, context, FakeExecutor({"P1": slow, "P2": slow}))
    threading.Timer(0.3, engine.cancel).start()
    started = time.monotonic()
    result = engine.run()
    assert time.monotonic() - started < 5
    assert result.status is PipelineStatus.CANCELLED
    assert [str(r.status) for r in result.steps.values()] == ["cancelled", "cancelled", "not run"]


def test_cancel_before_run_starts_nothing(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(step_yaml("A"), FINAL))
    fake = FakeExecutor()
    engine = PipelineEngine(plan, context, fake)
    engine.cancel()
    result = engine.run()
    assert result.status is PipelineStatus.CANCELLED
    assert fake.calls == []
    assert {str(r.status) for r in result.steps.values()} == {"not run"}


def test_artifacts_from_fake_files(run_pipeline: RunPipeline) -> None:
    fake = FakeExecutor({"Build": FakeBehaviour(files={"dist/app.txt": "app", "other": "x"})})
    ran = run_pipeline(
        pipeline(step_yaml("Build", extra="artifacts:\n  - dist/**"), step_yaml("Use")),
        executor=fake,
    )
    build = result_of(ran, "Build")
    assert build.artifacts == ["dist/app.txt"]
    step_id = next(s.id for s in ran.plan.steps() if s.name == "Build")
    assert (ran.context.artifact_dir / step_id / "dist" / "app.txt").read_text() == "app"
    assert ran.logs["Use"] == "[shipline] artifacts: restored 1 file(s) from earlier steps\n"


def test_without_fail_fast_siblings_waiting_for_a_slot_still_run(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(parallel(pstep("Bad"), pstep("Later"), pstep("Last"))))
    fake = FakeExecutor({"Bad": FakeBehaviour(exit_code=1)})
    result = PipelineEngine(plan, dataclasses.replace(context, max_parallel=1), fake).run()
    assert result.status is PipelineStatus.FAILED
    by_name = {s.name: result.steps[s.id].status for s in plan.steps()}
    assert by_name == {
        "Bad": StepStatus.FAILED,
        "Later": StepStatus.PASSED,
        "Last": StepStatus.PASSED,
    }


def test_one_slot_runs_a_parallel_group_one_step_at_a_time(prepare_run: PrepareRun) -> None:
    plan, context = prepare_run(pipeline(parallel(pstep("A"), pstep("B"), pstep("C"))))
    fake = FakeExecutor({})
    result = PipelineEngine(plan, dataclasses.replace(context, max_parallel=1), fake).run()
    assert result.status is PipelineStatus.PASSED
    starts = [c for c in fake.calls if c[0] == "start"]
    assert [name for _, name in starts] == ["A", "B", "C"]
