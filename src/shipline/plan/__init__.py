"""plan: choose the pipeline for an event and compile it into frozen dataclasses (pure)."""

from shipline.plan.compile import compile_plan, resolve_variables
from shipline.plan.event import Event, PullRequest
from shipline.plan.model import (
    ArtifactRule,
    CacheSpec,
    ChangesetRule,
    CloneSpec,
    CommandLine,
    ImageSpec,
    NoPipeline,
    ParallelGroup,
    ParallelPosition,
    PipeCall,
    Plan,
    PlanItem,
    ScriptEntry,
    ServiceSpec,
    StageSpec,
    StepSpec,
)

__all__ = [
    "ArtifactRule",
    "CacheSpec",
    "ChangesetRule",
    "CloneSpec",
    "CommandLine",
    "Event",
    "ImageSpec",
    "NoPipeline",
    "ParallelGroup",
    "ParallelPosition",
    "PipeCall",
    "Plan",
    "PlanItem",
    "PullRequest",
    "ScriptEntry",
    "ServiceSpec",
    "StageSpec",
    "StepSpec",
    "compile_plan",
    "resolve_variables",
]
