"""How the engine tells the outside world (CLI, server) what happens. Override what you need."""

from __future__ import annotations

from shipline.engine.results import PipelineResult, StepResult
from shipline.plan import Plan, StepSpec


class RunListener:
    """No-op base; methods are called from worker threads, output very often."""

    def pipeline_started(self, plan: Plan) -> None:
        pass

    def step_started(self, step: StepSpec) -> None:
        pass

    def step_output(self, step: StepSpec, data: bytes) -> None:
        pass

    def step_message(self, step: StepSpec, text: str) -> None:
        """A line from Shipline itself about the step (caches, artifacts, time-outs)."""

    def step_finished(self, step: StepSpec, result: StepResult) -> None:
        pass

    def pipeline_finished(self, result: PipelineResult) -> None:
        pass
