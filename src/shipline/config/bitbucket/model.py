"""Typed mirror of a bitbucket-pipelines.yml file; every node remembers where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipline.config.diagnostics import Mark

Trigger = Literal["automatic", "manual"]
CloneDepth = int | Literal["full"]


@dataclass(frozen=True)
class Image:
    name: str
    mark: Mark
    username: str | None = None
    password: str | None = None
    run_as_user: int | None = None
    aws: dict[str, str] | None = None


@dataclass(frozen=True)
class Clone:
    depth: CloneDepth | None = None
    lfs: bool | None = None
    enabled: bool | None = None
    skip_ssl_verify: bool | None = None


@dataclass(frozen=True)
class Options:
    max_time: int | None = None
    docker: bool = False
    size: str | None = None
    runs_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceDef:
    name: str
    mark: Mark
    image: Image | None
    variables: dict[str, str] = field(default_factory=dict)
    memory: int | None = None
    type: str | None = None


@dataclass(frozen=True)
class CacheDef:
    name: str
    mark: Mark
    path: str
    key_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipe:
    """A `- pipe: owner/name:version` item inside a script."""

    pipe: str
    mark: Mark
    variables: dict[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    text: str
    mark: Mark


ScriptItem = Command | Pipe


@dataclass(frozen=True)
class Artifacts:
    paths: tuple[str, ...] = ()
    download: bool = True


@dataclass(frozen=True)
class Changesets:
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    changesets: Changesets | None = None
    state: str | None = None


@dataclass(frozen=True)
class Step:
    mark: Mark
    script: tuple[ScriptItem, ...]
    name: str | None = None
    image: Image | None = None
    after_script: tuple[ScriptItem, ...] = ()
    services: tuple[tuple[str, Mark], ...] = ()
    caches: tuple[tuple[str, Mark], ...] = ()
    artifacts: Artifacts = field(default_factory=Artifacts)
    deployment: str | None = None
    trigger: Trigger = "automatic"
    size: str | None = None
    max_time: int | None = None
    clone: Clone | None = None
    condition: Condition | None = None
    runs_on: tuple[str, ...] = ()
    oidc: bool = False
    fail_fast: bool | None = None


@dataclass(frozen=True)
class Parallel:
    mark: Mark
    steps: tuple[Step, ...]
    fail_fast: bool = False


@dataclass(frozen=True)
class Stage:
    mark: Mark
    steps: tuple[Step, ...]
    name: str | None = None
    deployment: str | None = None
    trigger: Trigger = "automatic"
    condition: Condition | None = None


PipelineItem = Step | Parallel | Stage


@dataclass(frozen=True)
class Variable:
    """A variable a custom pipeline asks for when it is started."""

    name: str
    mark: Mark
    default: str | None = None
    allowed_values: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class Pipeline:
    mark: Mark
    items: tuple[PipelineItem, ...]
    variables: tuple[Variable, ...] = ()
    final: Step | None = None


@dataclass(frozen=True)
class PullRequestPipelines:
    """Pipelines for pull requests from one source pattern; optionally split by destination."""

    mark: Mark
    pipeline: Pipeline | None = None
    destinations: dict[str, Pipeline] = field(default_factory=dict)


@dataclass(frozen=True)
class Pipelines:
    default: Pipeline | None = None
    branches: dict[str, Pipeline] = field(default_factory=dict)
    tags: dict[str, Pipeline] = field(default_factory=dict)
    bookmarks: dict[str, Pipeline] = field(default_factory=dict)
    pull_requests: dict[str, PullRequestPipelines] = field(default_factory=dict)
    custom: dict[str, Pipeline] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineFile:
    path: str
    pipelines: Pipelines
    image: Image | None = None
    clone: Clone = field(default_factory=Clone)
    options: Options = field(default_factory=Options)
    services: dict[str, ServiceDef] = field(default_factory=dict)
    caches: dict[str, CacheDef] = field(default_factory=dict)
