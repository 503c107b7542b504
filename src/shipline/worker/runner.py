"""Run one step attempt end to end on this machine, talking to the server only through a
WorkerClient: compile the plan, fetch artifacts, run the step with heartbeats, ship its log,
upload artifacts, report."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from shipline.config import parse_text
from shipline.engine import RunContext, RunListener, StepResult, StepStatus
from shipline.engine.step_runner import LogSink, StepRunner
from shipline.errors import ShiplineError
from shipline.plan import Plan, StepSpec, compile_plan
from shipline.plan.event_codec import event_from_dict
from shipline.run.environment import RunIdentity
from shipline.run.executor import Executor
from shipline.run.workspace import SourceRef, WorkspaceFactory
from shipline.worker.log_shipper import LogShipper
from shipline.worker.protocol import Assignment, StepReport, WorkerClient

logger = logging.getLogger(__name__)


def plan_of(job: Assignment) -> Plan:
    """The plan the server compiled, compiled again here from the same file and event."""
    parsed = parse_text(job.pipeline_file)
    if parsed.file is None:
        raise ShiplineError("the pipeline file of this job no longer parses")
    plan = compile_plan(parsed.file, event_from_dict(job.event))
    if not isinstance(plan, Plan):
        raise ShiplineError(f"the job's event selects no pipeline: {plan.reason}")
    return plan


def _source(job: Assignment) -> SourceRef:
    event = event_from_dict(job.event)
    url = job.source if "://" in job.source else None
    return SourceRef(
        Path(job.source) if url is None else Path("."),
        job.commit,
        branch=event.pull_request.source if event.pull_request else event.branch,
        tag=event.tag,
        merge_branch=event.pull_request.destination if event.pull_request else None,
        url=url,
    )


class _Heartbeats:
    """Tells the server every few seconds that the step is alive; stops it when told."""

    def __init__(
        self, client: WorkerClient, job: Assignment, stop_step: Callable[[], None]
    ) -> None:
        self.client, self.job, self.stop_step = client, job, stop_step
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeats:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(self.job.heartbeat_seconds):
            try:
                answer = self.client.heartbeat(self.job)
            except ShiplineError as exc:  # the server is away: the lease decides, not us
                logger.warning("heartbeat for %s failed: %s", self.job.step_key, exc)
                continue
            if answer.lost:
                self.lost = True
            if answer.stop or answer.lost:
                self.stop_step()


class StepJobRunner:
    """Runs assignments with one executor; caches and workspaces live under `work_root`."""

    def __init__(
        self, client: WorkerClient, executor: Executor, work_root: Path, cache_root: Path
    ) -> None:
        self.client = client
        self.executor = executor
        self.work_root = work_root
        self.cache_root = cache_root

    def run(self, job: Assignment) -> StepReport | None:
        """Run `job` and report it; None when the lease was lost (nothing is reported)."""
        run_dir = self.work_root / f"job-{job.job_id}-{job.attempt}"
        try:
            report, lost = self._run(job, run_dir)
        except Exception as exc:  # a worker never leaves its step unreported
            logger.exception("job %s crashed", job.job_id)
            report, lost = StepReport(StepStatus.FAILED.value, f"worker error: {exc}"), False
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        if lost:
            return None
        try:
            self.client.report(job, report)
        except ShiplineError as exc:
            logger.warning("could not report %s: %s", job.step_key, exc)
        return report

    def _run(self, job: Assignment, run_dir: Path) -> tuple[StepReport, bool]:
        plan = plan_of(job)
        step = plan.step(job.step_key)
        source = _source(job)
        context = RunContext(
            source=source,
            identity=RunIdentity(
                commit=job.commit,
                build_number=job.build_number,
                repo_slug=job.repo,
                workspace="shipline",
                pipeline_uuid=job.pipeline_uuid,
                repo_uuid=job.repo_uuid,
                git_http_origin=job.git_http_origin,
            ),
            run_dir=run_dir,
            cache_dir=self.cache_root / job.repo,
            variables=dict(job.variables),
            secrets={name: job.variables[name] for name in job.secured if name in job.variables},
        )
        stores = []
        for pipeline_id, key in job.artifacts:
            into = run_dir / "incoming" / f"{pipeline_id}-{key}"
            found = self.client.fetch_artifacts(job, pipeline_id, key, into)
            if found is not None:
                stores.append(found)
        workspaces = WorkspaceFactory(source, run_dir)

        def open_log(_step: StepSpec, _path: Path) -> LogSink:
            return LogShipper(self.client, job)

        runner = StepRunner(plan, context, self.executor, RunListener(), workspaces, open_log)
        stop = lambda: runner.cancel(step.id)  # noqa: E731
        self.client.watch(job, stop)
        try:
            with _Heartbeats(self.client, job, stop) as beats:
                result = runner.run(step, stores)
        finally:
            self.client.unwatch(job)
            workspaces.cleanup()
        if beats.lost:
            return StepReport(StepStatus.FAILED.value), True
        if result.artifacts:
            self.client.upload_artifacts(job, context.artifact_dir / step.id)
        return _report(result), False


def _report(result: StepResult) -> StepReport:
    return StepReport(
        status=result.status.value,
        reason=result.reason,
        exit_code=result.exit_code,
        after_script_exit_code=result.after_script_exit_code,
        artifacts=tuple(result.artifacts),
    )
