"""The compiled plan: frozen, executor-ready, free of YAML details."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from shipline.plan.event import Event

DEFAULT_MAX_TIME_MINUTES = 120
DEFAULT_CLONE_DEPTH = 50
SIZE_MEMORY_MB = {"1x": 4096, "2x": 8192, "4x": 16384, "8x": 32768, "16x": 65536, "32x": 131072}
DEFAULT_SERVICE_MEMORY_MB = 1024


@dataclass(frozen=True)
class ImageSpec:
    name: str
    username: str | None = None
    password: str | None = None
    run_as_user: int | None = None
    aws: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: ImageSpec | None
    variables: tuple[tuple[str, str], ...] = ()
    memory_mb: int = DEFAULT_SERVICE_MEMORY_MB
    type: str | None = None


@dataclass(frozen=True)
class CacheSpec:
    name: str
    path: str
    key_files: tuple[str, ...] = ()
    predefined: bool = False


@dataclass(frozen=True)
class ArtifactRule:
    paths: tuple[str, ...] = ()
    download: bool = True


@dataclass(frozen=True)
class CloneSpec:
    enabled: bool = True
    depth: int | None = DEFAULT_CLONE_DEPTH  # None: full history
    lfs: bool = False
    skip_ssl_verify: bool = False


@dataclass(frozen=True)
class ChangesetRule:
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandLine:
    text: str
    line: int


@dataclass(frozen=True)
class PipeCall:
    pipe: str
    variables: tuple[tuple[str, str | tuple[str, ...]], ...]
    line: int


ScriptEntry = CommandLine | PipeCall


@dataclass(frozen=True)
class ParallelPosition:
    group: int
    index: int  # 0-based, as BITBUCKET_PARALLEL_STEP
    count: int


@dataclass(frozen=True)
class StepSpec:
    id: str
    number: int
    name: str
    script: tuple[ScriptEntry, ...]
    after_script: tuple[ScriptEntry, ...] = ()
    image: ImageSpec | None = None
    services: tuple[ServiceSpec, ...] = ()
    caches: tuple[CacheSpec, ...] = ()
    artifacts: ArtifactRule = ArtifactRule()
    deployment: str | None = None
    manual: bool = False
    size: str = "1x"
    max_time_minutes: int = DEFAULT_MAX_TIME_MINUTES
    clone: CloneSpec = CloneSpec()
    changesets: ChangesetRule | None = None
    runs_on: tuple[str, ...] = ()
    oidc: bool = False
    fail_fast: bool = False
    docker: bool = False
    parallel: ParallelPosition | None = None
    stage: str | None = None
    final: bool = False
    line: int = 0

    @property
    def memory_mb(self) -> int:
        return SIZE_MEMORY_MB.get(self.size, SIZE_MEMORY_MB["1x"])


@dataclass(frozen=True)
class ParallelGroup:
    number: int
    steps: tuple[StepSpec, ...]
    fail_fast: bool = False


@dataclass(frozen=True)
class StageSpec:
    number: int
    name: str
    steps: tuple[StepSpec, ...]
    deployment: str | None = None
    manual: bool = False
    changesets: ChangesetRule | None = None


PlanItem = StepSpec | ParallelGroup | StageSpec


@dataclass(frozen=True)
class Plan:
    pipeline: str  # e.g. "branches.feature/*", "default", "custom.deploy"
    reason: str
    event: Event
    items: tuple[PlanItem, ...]
    final: StepSpec | None = None
    variables: tuple[tuple[str, str], ...] = ()

    def steps(self) -> Iterator[StepSpec]:
        for item in self.items:
            if isinstance(item, StepSpec):
                yield item
            else:
                yield from item.steps
        if self.final is not None:
            yield self.final

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps():
            if step.id == step_id:
                return step
        raise KeyError(step_id)


@dataclass(frozen=True)
class NoPipeline:
    """The event selects no pipeline; `reason` says why (e.g. an unmatched tag, [skip ci])."""

    reason: str
    event: Event
