"""engine: walks a plan with an executor; knows nothing about servers or terminals."""

from shipline.engine.context import RunContext
from shipline.engine.engine import PipelineEngine
from shipline.engine.listener import RunListener
from shipline.engine.results import PipelineResult, PipelineStatus, StepResult, StepStatus

__all__ = [
    "PipelineEngine",
    "PipelineResult",
    "PipelineStatus",
    "RunContext",
    "RunListener",
    "StepResult",
    "StepStatus",
]
