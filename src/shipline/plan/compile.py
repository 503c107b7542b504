"""Compile a parsed pipeline file and an event into a frozen Plan. Pure and deterministic."""

from __future__ import annotations

from shipline.config.bitbucket import keywords as kw
from shipline.config.bitbucket.model import (
    CacheDef,
    Changesets,
    Clone,
    Command,
    Condition,
    Image,
    Parallel,
    Pipeline,
    PipelineFile,
    ScriptItem,
    Stage,
    Step,
    Variable,
)
from shipline.errors import PlanError
from shipline.plan.event import Event
from shipline.plan.model import (
    DEFAULT_CLONE_DEPTH,
    DEFAULT_MAX_TIME_MINUTES,
    DEFAULT_SERVICE_MEMORY_MB,
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
from shipline.plan.select import select_pipeline


def compile_plan(pipeline_file: PipelineFile, event: Event) -> Plan | NoPipeline:
    """Choose the pipeline for `event` and expand it into a Plan.

    Raises PlanError for requests that cannot be honoured (unknown custom pipeline, a variable
    outside its allowed values, an unknown variable name).
    """
    selected = select_pipeline(pipeline_file.pipelines, event)
    if isinstance(selected, str):
        return NoPipeline(selected, event)
    variables = resolve_variables(selected.pipeline.variables, event.variables, event.custom)
    return _Compiler(pipeline_file).compile(
        selected.key, selected.reason, selected.pipeline, event, variables
    )


def resolve_variables(
    declared: tuple[Variable, ...],
    given: tuple[tuple[str, str], ...],
    custom: str | None,
) -> tuple[tuple[str, str], ...]:
    """Apply defaults and allowed-values; extra variables pass through for non-custom runs."""
    values = dict(given)
    declared_names = {v.name for v in declared}
    if custom is not None and declared:
        unknown = sorted(set(values) - declared_names)
        if unknown:
            raise PlanError(
                f"custom pipeline '{custom}' does not declare variable(s) {', '.join(unknown)}; "
                f"it declares {', '.join(sorted(declared_names))}"
            )
    resolved: list[tuple[str, str]] = []
    for variable in declared:
        value = values.get(variable.name, variable.default if variable.default is not None else "")
        if variable.allowed_values and value not in variable.allowed_values:
            raise PlanError(
                f"variable {variable.name}='{value}' is not allowed; "
                f"choose one of: {', '.join(variable.allowed_values)}"
            )
        resolved.append((variable.name, value))
    resolved.extend((k, v) for k, v in given if k not in declared_names)
    return tuple(resolved)


def _image(image: Image | None) -> ImageSpec | None:
    if image is None:
        return None
    aws = tuple(sorted(image.aws.items())) if image.aws else ()
    return ImageSpec(image.name, image.username, image.password, image.run_as_user, aws)


def _script(items: tuple[ScriptItem, ...]) -> tuple[ScriptEntry, ...]:
    entries: list[ScriptEntry] = []
    for item in items:
        if isinstance(item, Command):
            entries.append(CommandLine(item.text, item.mark.line))
        else:
            entries.append(
                PipeCall(item.pipe, tuple(sorted(item.variables.items())), item.mark.line)
            )
    return tuple(entries)


def _changesets(condition: Condition | None) -> ChangesetRule | None:
    if condition is None or condition.changesets is None:
        return None
    changesets: Changesets = condition.changesets
    return ChangesetRule(changesets.include_paths, changesets.exclude_paths)


def _clone(global_clone: Clone, step_clone: Clone | None) -> CloneSpec:
    def pick(attribute: str) -> object:
        if step_clone is not None and getattr(step_clone, attribute) is not None:
            return getattr(step_clone, attribute)
        return getattr(global_clone, attribute)

    depth = pick("depth")
    return CloneSpec(
        enabled=pick("enabled") is not False,
        depth=None
        if depth == "full"
        else (depth if isinstance(depth, int) else DEFAULT_CLONE_DEPTH),
        lfs=pick("lfs") is True,
        skip_ssl_verify=pick("skip_ssl_verify") is True,
    )


class _Compiler:
    def __init__(self, pipeline_file: PipelineFile) -> None:
        self.file = pipeline_file
        self.number = 0

    def compile(
        self,
        key: str,
        reason: str,
        pipeline: Pipeline,
        event: Event,
        variables: tuple[tuple[str, str], ...],
    ) -> Plan:
        items: list[PlanItem] = []
        for index, item in enumerate(pipeline.items, start=1):
            if isinstance(item, Step):
                items.append(self._step(item))
            elif isinstance(item, Parallel):
                steps = tuple(
                    self._step(
                        step,
                        parallel=ParallelPosition(index, position, len(item.steps)),
                        group_fail_fast=item.fail_fast,
                    )
                    for position, step in enumerate(item.steps)
                )
                items.append(ParallelGroup(index, steps, item.fail_fast))
            else:
                items.append(self._stage(index, item))
        final = self._step(pipeline.final, final=True) if pipeline.final else None
        return Plan(key, reason, event, tuple(items), final, variables)

    def _stage(self, index: int, stage: Stage) -> StageSpec:
        name = stage.name or f"Stage {index}"
        steps = tuple(
            self._step(step, stage=name, deployment=stage.deployment) for step in stage.steps
        )
        return StageSpec(
            index,
            name,
            steps,
            stage.deployment,
            stage.trigger == "manual",
            _changesets(stage.condition),
        )

    def _cache(self, name: str) -> CacheSpec:
        definition: CacheDef | None = self.file.caches.get(name)
        if definition is not None:
            return CacheSpec(name, definition.path, definition.key_files)
        return CacheSpec(name, kw.PREDEFINED_CACHES[name], predefined=True)

    def _service(self, name: str) -> ServiceSpec:
        definition = self.file.services.get(name)
        if definition is None:  # the predefined docker service
            return ServiceSpec(name, None, (), DEFAULT_SERVICE_MEMORY_MB, "docker")
        return ServiceSpec(
            name,
            _image(definition.image),
            tuple(sorted(definition.variables.items())),
            definition.memory or DEFAULT_SERVICE_MEMORY_MB,
            definition.type or ("docker" if name == "docker" else None),
        )

    def _step(
        self,
        step: Step,
        *,
        parallel: ParallelPosition | None = None,
        group_fail_fast: bool = False,
        stage: str | None = None,
        deployment: str | None = None,
        final: bool = False,
    ) -> StepSpec:
        self.number += 1
        options = self.file.options
        services = tuple(self._service(name) for name, _ in step.services)
        environment = step.deployment or deployment
        return StepSpec(
            id=f"step-{self.number}",
            number=self.number,
            name=step.name
            or (f"Deploy to {environment}" if environment else f"Step {self.number}"),
            script=_script(step.script),
            after_script=_script(step.after_script),
            image=_image(step.image or self.file.image),
            services=services,
            caches=tuple(self._cache(name) for name, _ in step.caches),
            artifacts=ArtifactRule(step.artifacts.paths, step.artifacts.download),
            deployment=environment,
            manual=step.trigger == "manual",
            size=step.size or options.size or "1x",
            max_time_minutes=step.max_time or options.max_time or DEFAULT_MAX_TIME_MINUTES,
            clone=_clone(self.file.clone, step.clone),
            changesets=_changesets(step.condition),
            runs_on=step.runs_on or options.runs_on,
            oidc=step.oidc,
            fail_fast=step.fail_fast if step.fail_fast is not None else group_fail_fast,
            docker=options.docker or any(s.type == "docker" for s in services),
            parallel=parallel,
            stage=stage,
            final=final,
            line=step.mark.line,
        )
