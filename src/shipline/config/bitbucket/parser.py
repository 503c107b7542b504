"""Parse a YAML tree into the typed Bitbucket model, collecting diagnostics as it goes."""

from __future__ import annotations

from shipline.config.bitbucket import keywords as kw
from shipline.config.bitbucket.model import (
    Artifacts,
    CacheDef,
    Changesets,
    Clone,
    CloneDepth,
    Command,
    Condition,
    Image,
    Options,
    Parallel,
    Pipe,
    Pipeline,
    PipelineFile,
    PipelineItem,
    Pipelines,
    PullRequestPipelines,
    ScriptItem,
    ServiceDef,
    Stage,
    Step,
    Trigger,
    Variable,
)
from shipline.config.diagnostics import DiagnosticSink, Mark
from shipline.config.suggest import allowed, did_you_mean
from shipline.config.yamltree import YMap, YNode, YScalar, YSeq


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _kind(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    assert isinstance(node, YScalar)
    if node.value is None:
        return "empty"
    return f"'{node.raw}'"


class BitbucketParser:
    """Turns the YAML tree of one bitbucket-pipelines.yml into a PipelineFile."""

    def __init__(self, sink: DiagnosticSink) -> None:
        self.sink = sink
        self.service_names: set[str] = set()
        self.cache_names: set[str] = set()

    # ---- typed readers ------------------------------------------------------------------

    def _map(self, node: YNode, path: str, what: str) -> YMap | None:
        if isinstance(node, YMap):
            return node
        self.sink.error(node.mark, path, f"{what} must be a mapping, found {_kind(node)}")
        return None

    def _seq(self, node: YNode, path: str, what: str) -> YSeq | None:
        if isinstance(node, YSeq):
            return node
        self.sink.error(
            node.mark,
            path,
            f"{what} must be a list, found {_kind(node)}",
            "start each entry on its own line with '- '",
        )
        return None

    def _str(self, node: YNode, path: str, what: str) -> str | None:
        if isinstance(node, YScalar) and node.value is not None:
            return node.raw if not isinstance(node.value, str) else node.value
        self.sink.error(node.mark, path, f"{what} must be text, found {_kind(node)}")
        return None

    def _non_empty(self, node: YNode, path: str, what: str) -> str | None:
        """Text that names something (image, cache path, pipe): '' would be dropped silently."""
        value = self._str(node, path, what)
        if value is not None and not value.strip():
            self.sink.error(node.mark, path, f"{what} must not be empty")
            return None
        return value

    def _bool(self, node: YNode, path: str, what: str) -> bool | None:
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        self.sink.error(node.mark, path, f"{what} must be true or false, found {_kind(node)}")
        return None

    def _int(self, node: YNode, path: str, what: str, minimum: int = 1) -> int | None:
        if isinstance(node, YScalar) and type(node.value) is int and node.value >= minimum:
            return node.value
        self.sink.error(
            node.mark,
            path,
            f"{what} must be a whole number of at least {minimum}, found {_kind(node)}",
        )
        return None

    def _choice(self, node: YNode, path: str, what: str, choices: tuple[str, ...]) -> str | None:
        value = self._str(node, path, what)
        if value is None:
            return None
        if value not in choices:
            hint = did_you_mean(value, choices) or allowed(choices)
            self.sink.error(node.mark, path, f"{what} '{value}' is not allowed", hint)
            return None
        return value

    def _str_list(self, node: YNode, path: str, what: str) -> tuple[str, ...]:
        seq = self._seq(node, path, what)
        if seq is None:
            return ()
        values = [self._str(item, _join(path, i), what) for i, item in enumerate(seq.items)]
        return tuple(v for v in values if v is not None)

    def _str_map(self, node: YNode, path: str, what: str) -> dict[str, str]:
        mapping = self._map(node, path, what)
        if mapping is None:
            return {}
        result: dict[str, str] = {}
        for key, entry in mapping.entries.items():
            value = entry.value
            if isinstance(value, YScalar):
                result[key] = (
                    ""
                    if value.value is None
                    else (value.value if isinstance(value.value, str) else value.raw)
                )
            else:
                self.sink.error(value.mark, _join(path, key), f"variable '{key}' must be text")
        return result

    def _check_keys(
        self,
        mapping: YMap,
        path: str,
        known: frozenset[str],
        what: str,
        ignored: dict[str, str] | None = None,
    ) -> None:
        for key, entry in mapping.entries.items():
            if key in known:
                continue
            if ignored and key in ignored:
                self.sink.warning(
                    entry.key_mark,
                    _join(path, key),
                    f"'{key}' is ignored by Shipline: {ignored[key]}",
                )
                continue
            hint = did_you_mean(key, known) or allowed(known)
            self.sink.error(
                entry.key_mark, _join(path, key), f"unknown key '{key}' in {what}", hint
            )

    # ---- file level ---------------------------------------------------------------------

    def parse_file(self, root: YNode, path: str) -> PipelineFile | None:
        root_map = self._map(root, "", "the file")
        if root_map is None:
            return None
        definitions = root_map.get("definitions")
        services: dict[str, ServiceDef] = {}
        caches: dict[str, CacheDef] = {}
        if definitions is not None:
            services, caches = self._definitions(definitions)
        self.service_names = set(services) | kw.PREDEFINED_SERVICES
        self.cache_names = set(caches) | set(kw.PREDEFINED_CACHES)

        image_node = root_map.get("image")
        clone_node = root_map.get("clone")
        options_node = root_map.get("options")
        triggers = root_map.entries.get("triggers")
        if triggers is not None:
            self.sink.warning(
                triggers.key_mark,
                "triggers",
                "event triggers are not supported yet; they are ignored",
            )
        pipelines_node = root_map.get("pipelines")
        if pipelines_node is None:
            hint = ""
            for key in root_map.entries:
                hint = did_you_mean(key, ["pipelines"])
                if hint:
                    break
            self.sink.error(
                root_map.mark,
                "",
                "the file has no 'pipelines' section",
                hint or "add 'pipelines:' with at least a 'default:' pipeline",
            )
            return None
        pipelines = self._pipelines(pipelines_node)
        return PipelineFile(
            path=path,
            pipelines=pipelines,
            image=self._image(image_node, "image") if image_node is not None else None,
            clone=self._clone(clone_node, "clone") if clone_node is not None else Clone(),
            options=self._options(options_node) if options_node is not None else Options(),
            services=services,
            caches=caches,
        )

    def _definitions(self, node: YNode) -> tuple[dict[str, ServiceDef], dict[str, CacheDef]]:
        mapping = self._map(node, "definitions", "'definitions'")
        services: dict[str, ServiceDef] = {}
        caches: dict[str, CacheDef] = {}
        if mapping is None:
            return services, caches
        # Other keys under definitions (steps, scripts, anchors...) are free-form by design.
        services_node = mapping.get("services")
        if services_node is not None:
            services_map = self._map(services_node, "definitions.services", "'services'")
            for name, entry in services_map.entries.items() if services_map else []:
                service = self._service(name, entry.value, _join("definitions.services", name))
                if service:
                    services[name] = service
        caches_node = mapping.get("caches")
        if caches_node is not None:
            caches_map = self._map(caches_node, "definitions.caches", "'caches'")
            for name, entry in caches_map.entries.items() if caches_map else []:
                cache = self._cache(name, entry.value, _join("definitions.caches", name))
                if cache:
                    caches[name] = cache
        return services, caches

    def _service(self, name: str, node: YNode, path: str) -> ServiceDef | None:
        mapping = self._map(node, path, f"service '{name}'")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.SERVICE_KEYS, f"service '{name}'")
        image_node = mapping.get("image")
        image = self._image(image_node, _join(path, "image")) if image_node else None
        service_type = None
        if (type_node := mapping.get("type")) is not None:
            service_type = self._choice(type_node, _join(path, "type"), "service type", ("docker",))
        if image is None and service_type is None and name != "docker":
            self.sink.error(
                mapping.mark,
                path,
                f"service '{name}' has no image",
                "add 'image: NAME:TAG' (for example 'image: postgres:16')",
            )
        variables: dict[str, str] = {}
        for key in ("variables", "environment"):
            if (var_node := mapping.get(key)) is not None:
                variables.update(self._str_map(var_node, _join(path, key), f"service {key}"))
        memory = None
        if (memory_node := mapping.get("memory")) is not None:
            memory = self._int(memory_node, _join(path, "memory"), "service memory (MB)", 128)
        return ServiceDef(name, mapping.mark, image, variables, memory, service_type)

    def _cache(self, name: str, node: YNode, path: str) -> CacheDef | None:
        if name in kw.PREDEFINED_CACHES:
            self.sink.info(node.mark, path, f"custom cache '{name}' replaces the predefined one")
        if isinstance(node, YScalar):
            value = self._non_empty(node, path, f"cache '{name}' path")
            return CacheDef(name, node.mark, value) if value else None
        mapping = self._map(node, path, f"cache '{name}'")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.CACHE_KEYS, f"cache '{name}'")
        path_node = mapping.get("path")
        if path_node is None:
            self.sink.error(mapping.mark, path, f"cache '{name}' needs a 'path'")
            return None
        cache_path = self._non_empty(path_node, _join(path, "path"), "cache path")
        key_files: tuple[str, ...] = ()
        if (key_node := mapping.get("key")) is not None:
            key_map = self._map(key_node, _join(path, "key"), "cache key")
            if key_map is not None:
                self._check_keys(key_map, _join(path, "key"), kw.CACHE_KEY_KEYS, "cache key")
                files = key_map.get("files")
                if files is None:
                    self.sink.error(key_map.mark, _join(path, "key"), "cache key needs 'files'")
                else:
                    key_files = self._str_list(files, _join(path, "key.files"), "key file")
        return CacheDef(name, mapping.mark, cache_path, key_files) if cache_path else None

    def _image(self, node: YNode, path: str) -> Image | None:
        if isinstance(node, YScalar):
            name = self._non_empty(node, path, "image")
            return Image(name, node.mark) if name else None
        mapping = self._map(node, path, "image")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.IMAGE_KEYS, "image")
        name_node = mapping.get("name")
        if name_node is None:
            self.sink.error(mapping.mark, path, "image needs a 'name'", "add 'name: IMAGE:TAG'")
            return None
        name = self._non_empty(name_node, _join(path, "name"), "image name")
        username = password = None
        if (node_u := mapping.get("username")) is not None:
            username = self._str(node_u, _join(path, "username"), "image username")
        if (node_p := mapping.get("password")) is not None:
            password = self._str(node_p, _join(path, "password"), "image password")
        run_as_user = None
        if (node_r := mapping.get("run-as-user")) is not None:
            run_as_user = self._int(node_r, _join(path, "run-as-user"), "run-as-user", 0)
        aws = None
        if (node_a := mapping.get("aws")) is not None:
            aws_map = self._map(node_a, _join(path, "aws"), "image aws")
            if aws_map is not None:
                self._check_keys(aws_map, _join(path, "aws"), kw.AWS_KEYS, "image aws")
                aws = self._str_map(aws_map, _join(path, "aws"), "image aws")
        if (username is None) != (password is None):
            self.sink.error(
                mapping.mark, path, "image credentials need both 'username' and 'password'"
            )
        if name is None:
            return None
        return Image(name, mapping.mark, username, password, run_as_user, aws)

    def _clone(self, node: YNode, path: str) -> Clone:
        mapping = self._map(node, path, "clone")
        if mapping is None:
            return Clone()
        self._check_keys(mapping, path, kw.CLONE_KEYS, "clone")
        depth: CloneDepth | None = None
        if (depth_node := mapping.get("depth")) is not None:
            if isinstance(depth_node, YScalar) and depth_node.value == "full":
                depth = "full"
            elif isinstance(depth_node, YScalar) and type(depth_node.value) is int:
                depth = self._int(depth_node, _join(path, "depth"), "clone depth")
            else:
                self.sink.error(
                    depth_node.mark,
                    _join(path, "depth"),
                    f"clone depth must be a number or 'full', found {_kind(depth_node)}",
                )
        flags: dict[str, bool | None] = {}
        for key in ("lfs", "enabled", "skip-ssl-verify"):
            if (flag_node := mapping.get(key)) is not None:
                flags[key] = self._bool(flag_node, _join(path, key), f"clone {key}")
        return Clone(depth, flags.get("lfs"), flags.get("enabled"), flags.get("skip-ssl-verify"))

    def _options(self, node: YNode) -> Options:
        mapping = self._map(node, "options", "options")
        if mapping is None:
            return Options()
        self._check_keys(mapping, "options", kw.OPTIONS_KEYS, "options")
        max_time = docker = size = None
        if (n := mapping.get("max-time")) is not None:
            max_time = self._int(n, "options.max-time", "max-time (minutes)")
        if (n := mapping.get("docker")) is not None:
            docker = self._bool(n, "options.docker", "options.docker")
        if (n := mapping.get("size")) is not None:
            size = self._choice(n, "options.size", "size", kw.SIZES)
        runs_on = self._runs_on(n, "options.runs-on") if (n := mapping.get("runs-on")) else ()
        if (entry := mapping.entries.get("runtime")) is not None:
            self.sink.warning(
                entry.key_mark,
                "options.runtime",
                "'runtime' is ignored by Shipline: " + kw.STEP_KEYS_IGNORED["runtime"],
            )
        return Options(max_time, bool(docker), size, runs_on)

    def _runs_on(self, node: YNode, path: str) -> tuple[str, ...]:
        if isinstance(node, YScalar):
            value = self._str(node, path, "runs-on label")
            return (value,) if value else ()
        return self._str_list(node, path, "runs-on label")

    # ---- pipelines ----------------------------------------------------------------------

    def _pipelines(self, node: YNode) -> Pipelines:
        mapping = self._map(node, "pipelines", "'pipelines'")
        if mapping is None:
            return Pipelines()
        self._check_keys(mapping, "pipelines", kw.PIPELINES_KEYS, "'pipelines'")
        if not mapping.entries:
            self.sink.error(
                mapping.mark,
                "pipelines",
                "'pipelines' defines no pipeline",
                "add 'default:' or 'branches:'",
            )
        default = None
        if (default_node := mapping.get("default")) is not None:
            default = self._pipeline(default_node, "pipelines.default", custom=False)
        groups: dict[str, dict[str, Pipeline]] = {}
        for section in ("branches", "tags", "bookmarks", "custom"):
            groups[section] = {}
            section_node = mapping.get(section)
            if section_node is None:
                continue
            if section == "bookmarks":
                self.sink.warning(
                    section_node.mark,
                    "pipelines.bookmarks",
                    "Mercurial bookmarks are not supported; these pipelines never run",
                )
            section_map = self._map(section_node, f"pipelines.{section}", f"'{section}'")
            for name, entry in section_map.entries.items() if section_map else []:
                key = name.strip()
                pipeline = self._pipeline(
                    entry.value, _join(f"pipelines.{section}", key), custom=section == "custom"
                )
                if pipeline is not None:
                    groups[section][key] = pipeline
        pull_requests: dict[str, PullRequestPipelines] = {}
        if (pr_node := mapping.get("pull-requests")) is not None:
            pr_map = self._map(pr_node, "pipelines.pull-requests", "'pull-requests'")
            for name, entry in pr_map.entries.items() if pr_map else []:
                parsed = self._pull_request(entry.value, _join("pipelines.pull-requests", name))
                if parsed is not None:
                    pull_requests[name.strip()] = parsed
        return Pipelines(
            default=default,
            branches=groups["branches"],
            tags=groups["tags"],
            bookmarks=groups["bookmarks"],
            pull_requests=pull_requests,
            custom=groups["custom"],
        )

    def _pull_request(self, node: YNode, path: str) -> PullRequestPipelines | None:
        if isinstance(node, YMap):
            self._check_keys(node, path, kw.PULL_REQUEST_KEYS, "a pull-request pipeline")
            dest_node = node.get("destinations")
            if dest_node is None:
                self.sink.error(node.mark, path, "expected a list of steps or 'destinations:'")
                return None
            dest_map = self._map(dest_node, _join(path, "destinations"), "'destinations'")
            destinations: dict[str, Pipeline] = {}
            for name, entry in dest_map.entries.items() if dest_map else []:
                pipeline = self._pipeline(
                    entry.value, _join(_join(path, "destinations"), name), custom=False
                )
                if pipeline is not None:
                    destinations[name.strip()] = pipeline
            return PullRequestPipelines(node.mark, destinations=destinations)
        pipeline = self._pipeline(node, path, custom=False)
        return PullRequestPipelines(node.mark, pipeline=pipeline) if pipeline else None

    def _pipeline(self, node: YNode, path: str, *, custom: bool) -> Pipeline | None:
        seq = self._seq(node, path, "a pipeline")
        if seq is None:
            return None
        if not seq.items:
            self.sink.error(seq.mark, path, "a pipeline needs at least one step")
            return None
        items: list[PipelineItem] = []
        variables: tuple[Variable, ...] = ()
        final: Step | None = None
        for index, item_node in enumerate(seq.items):
            item_path = _join(path, index)
            item_map = self._map(item_node, item_path, "a pipeline item")
            if item_map is None:
                continue
            if len(item_map.entries) != 1:
                keys = ", ".join(item_map.entries) or "nothing"
                self.sink.error(
                    item_map.mark,
                    item_path,
                    f"a pipeline item holds exactly one of step, parallel or stage; found {keys}",
                    "indent the step's keys under '- step:'",
                )
                continue
            key, entry = next(iter(item_map.entries.items()))
            key_path = _join(item_path, key)
            if key == "step":
                step = self._step(entry.value, key_path)
                if step:
                    items.append(step)
            elif key == "parallel":
                parallel = self._parallel(entry.value, key_path)
                if parallel:
                    items.append(parallel)
            elif key == "stage":
                stage = self._stage(entry.value, key_path)
                if stage:
                    items.append(stage)
            elif key == "variables" and custom:
                if index != 0:
                    self.sink.error(
                        entry.key_mark,
                        key_path,
                        "'variables' must be the first item of a custom pipeline",
                    )
                variables = self._variables(entry.value, key_path)
            elif key == "final":
                if index != len(seq.items) - 1:
                    self.sink.error(
                        entry.key_mark, key_path, "'final' must be the last item of a pipeline"
                    )
                final = self._step(entry.value, key_path)
            else:
                choices = ["step", "parallel", "stage", "final"] + (["variables"] if custom else [])
                hint = did_you_mean(key, choices) or allowed(choices)
                if key == "variables":
                    hint = "only custom pipelines take 'variables'"
                self.sink.error(entry.key_mark, key_path, f"unknown pipeline item '{key}'", hint)
        if not items and final is None:
            only_variables = all(
                isinstance(n, YMap) and list(n.entries) == ["variables"] for n in seq.items
            )
            if custom and only_variables:
                self.sink.error(
                    seq.mark, path, "a pipeline needs at least one step", "add '- step:' items"
                )
            return None
        self._check_deployments(items, path)
        return Pipeline(seq.mark, tuple(items), variables, final)

    def _check_deployments(self, items: list[PipelineItem], path: str) -> None:
        seen: dict[str, int] = {}
        for item in items:
            steps = item.steps if isinstance(item, Parallel | Stage) else (item,)
            environments = {s.deployment for s in steps if s.deployment}
            if isinstance(item, Stage) and item.deployment:
                environments = {item.deployment}
            for environment in environments:
                if environment in seen:
                    self.sink.warning(
                        item.mark,
                        path,
                        f"deployment environment '{environment}' is used more than once "
                        f"in this pipeline (first at line {seen[environment]})",
                        "Bitbucket rejects this; use one step per environment",
                    )
                else:
                    seen[environment] = item.mark.line

    def _variables(self, node: YNode, path: str) -> tuple[Variable, ...]:
        seq = self._seq(node, path, "'variables'")
        if seq is None:
            return ()
        result: list[Variable] = []
        for index, item in enumerate(seq.items):
            item_path = _join(path, index)
            mapping = self._map(item, item_path, "a variable")
            if mapping is None:
                continue
            self._check_keys(mapping, item_path, kw.VARIABLE_KEYS, "a custom variable")
            name_node = mapping.get("name")
            if name_node is None:
                self.sink.error(mapping.mark, item_path, "a variable needs a 'name'")
                continue
            name = self._non_empty(name_node, _join(item_path, "name"), "variable name")
            default = allowed_values = description = None
            if (n := mapping.get("default")) is not None:
                default = self._str(n, _join(item_path, "default"), "variable default")
            if (n := mapping.get("allowed-values")) is not None:
                allowed_values = self._str_list(n, _join(item_path, "allowed-values"), "value")
            if (n := mapping.get("description")) is not None:
                description = self._str(n, _join(item_path, "description"), "description")
            if allowed_values and default is not None and default not in allowed_values:
                self.sink.error(
                    mapping.mark,
                    item_path,
                    f"default '{default}' of variable '{name}' is not in its allowed-values",
                    allowed(allowed_values),
                )
            if allowed_values and default is None:
                self.sink.error(
                    mapping.mark,
                    item_path,
                    f"variable '{name}' has allowed-values but no default",
                    "Bitbucket requires a default from the allowed values",
                )
            if name:
                result.append(
                    Variable(name, mapping.mark, default, allowed_values or (), description)
                )
        return tuple(result)

    def _parallel(self, node: YNode, path: str) -> Parallel | None:
        fail_fast = False
        steps_node: YNode = node
        steps_path = path
        if isinstance(node, YMap):
            self._check_keys(node, path, kw.PARALLEL_KEYS, "'parallel'")
            if (ff := node.get("fail-fast")) is not None:
                fail_fast = bool(self._bool(ff, _join(path, "fail-fast"), "fail-fast"))
            found = node.get("steps")
            steps_path = _join(path, "steps")
            if found is None:
                self.sink.error(node.mark, path, "'parallel' needs 'steps'")
                return None
            steps_node = found
        steps = self._step_list(steps_node, steps_path, "parallel")
        return Parallel(node.mark, steps, fail_fast) if steps else None

    def _stage(self, node: YNode, path: str) -> Stage | None:
        mapping = self._map(node, path, "a stage")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.STAGE_KEYS, "a stage")
        steps_node = mapping.get("steps")
        if steps_node is None:
            self.sink.error(mapping.mark, path, "a stage needs 'steps'")
            return None
        steps = self._step_list(steps_node, _join(path, "steps"), "stage")
        name = deployment = None
        trigger: Trigger = "automatic"
        condition = None
        if (n := mapping.get("name")) is not None:
            name = self._str(n, _join(path, "name"), "stage name")
        if (n := mapping.get("deployment")) is not None:
            deployment = self._str(n, _join(path, "deployment"), "deployment environment")
        if (n := mapping.get("trigger")) is not None:
            trigger = self._trigger(n, _join(path, "trigger"))
        if (n := mapping.get("condition")) is not None:
            condition = self._condition(n, _join(path, "condition"))
        for step in steps:
            if deployment and step.deployment:
                self.sink.error(
                    step.mark,
                    path,
                    "a step inside a deployment stage cannot set its own 'deployment'",
                    "remove 'deployment' from the step; the stage's environment applies",
                )
            if step.condition is not None:
                self.sink.error(
                    step.mark,
                    path,
                    "steps inside a stage cannot have a 'condition'",
                    "put the condition on the stage",
                )
        return Stage(mapping.mark, steps, name, deployment, trigger, condition) if steps else None

    def _step_list(self, node: YNode, path: str, where: str) -> tuple[Step, ...]:
        seq = self._seq(node, path, f"the steps of a {where}")
        if seq is None:
            return ()
        if not seq.items:
            # Otherwise the group would vanish without a word.
            self.sink.error(seq.mark, path, f"a {where} needs at least one step")
            return ()
        steps: list[Step] = []
        for index, item in enumerate(seq.items):
            item_path = _join(path, index)
            mapping = self._map(item, item_path, "an item")
            if mapping is None:
                continue
            step_node = mapping.get("step")
            if step_node is None or len(mapping.entries) != 1:
                self.sink.error(
                    mapping.mark,
                    item_path,
                    f"a {where} holds only '- step:' items",
                    "nested parallel groups and stages are not allowed",
                )
                continue
            step = self._step(step_node, _join(item_path, "step"))
            if step:
                steps.append(step)
        return tuple(steps)

    def _trigger(self, node: YNode, path: str) -> Trigger:
        value = self._choice(node, path, "trigger", kw.TRIGGERS)
        return "manual" if value == "manual" else "automatic"

    def _condition(self, node: YNode, path: str) -> Condition | None:
        mapping = self._map(node, path, "condition")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.CONDITION_KEYS, "condition")
        changesets = None
        state = None
        if (n := mapping.get("changesets")) is not None:
            cs_path = _join(path, "changesets")
            cs_map = self._map(n, cs_path, "changesets")
            if cs_map is not None:
                self._check_keys(cs_map, cs_path, kw.CHANGESETS_KEYS, "changesets")
                include: tuple[str, ...] = ()
                exclude: tuple[str, ...] = ()
                if (p := cs_map.get("includePaths")) is not None:
                    include = self._str_list(p, _join(cs_path, "includePaths"), "path")
                if (p := cs_map.get("excludePaths")) is not None:
                    exclude = self._str_list(p, _join(cs_path, "excludePaths"), "path")
                if include and exclude:
                    self.sink.error(
                        cs_map.mark,
                        cs_path,
                        "use either includePaths or excludePaths, not both",
                    )
                changesets = Changesets(include, exclude)
        if (n := mapping.get("state")) is not None:
            state = self._str(n, _join(path, "state"), "condition state")
            self.sink.warning(
                n.mark,
                _join(path, "state"),
                "condition 'state' expressions are not evaluated yet; the step always runs",
            )
        return Condition(changesets, state)

    def _script(self, node: YNode, path: str, what: str) -> tuple[ScriptItem, ...]:
        seq = self._seq(node, path, what)
        if seq is None:
            return ()
        items: list[ScriptItem] = []
        for index, item in enumerate(seq.items):
            item_path = _join(path, index)
            if isinstance(item, YScalar):
                if item.value is None:
                    self.sink.error(item.mark, item_path, "empty command in script")
                    continue
                text = item.value if isinstance(item.value, str) else item.raw
                items.append(Command(text, item.mark))
            elif isinstance(item, YMap) and "pipe" in item.entries:
                self._check_keys(item, item_path, kw.PIPE_KEYS, "a pipe")
                pipe = self._pipe(item, item_path)
                if pipe:
                    items.append(pipe)
            elif isinstance(item, YMap):
                key = next(iter(item.entries), "")
                self.sink.error(
                    item.mark,
                    item_path,
                    "this command was read as a mapping because it contains ': '",
                    f"quote the whole command, e.g. - '{key}: ...'",
                )
            else:
                self.sink.error(
                    item.mark, item_path, f"a command must be text, found {_kind(item)}"
                )
        return tuple(items)

    def _pipe(self, mapping: YMap, path: str) -> Pipe | None:
        pipe_node = mapping.get("pipe")
        assert pipe_node is not None
        name = self._non_empty(pipe_node, _join(path, "pipe"), "pipe")
        variables: dict[str, str | tuple[str, ...]] = {}
        if (var_node := mapping.get("variables")) is not None:
            var_path = _join(path, "variables")
            var_map = self._map(var_node, var_path, "pipe variables")
            for key, entry in var_map.entries.items() if var_map else []:
                value = entry.value
                if isinstance(value, YSeq):
                    variables[key] = self._str_list(value, _join(var_path, key), "pipe variable")
                elif isinstance(value, YScalar):
                    variables[key] = (
                        ""
                        if value.value is None
                        else (value.value if isinstance(value.value, str) else value.raw)
                    )
                else:
                    self.sink.error(value.mark, _join(var_path, key), "pipe variables must be text")
        return Pipe(name, mapping.mark, variables) if name else None

    def _step(self, node: YNode, path: str) -> Step | None:
        mapping = self._map(node, path, "a step")
        if mapping is None:
            return None
        self._check_keys(mapping, path, kw.STEP_KEYS, "a step", kw.STEP_KEYS_IGNORED)
        script_node = mapping.get("script")
        if script_node is None:
            self.sink.error(
                mapping.mark, path, "a step needs a 'script'", "add 'script:' with commands"
            )
            return None
        script = self._script(script_node, _join(path, "script"), "script")
        if not script:
            if isinstance(script_node, YSeq) and not script_node.items:
                self.sink.error(script_node.mark, _join(path, "script"), "a step's script is empty")
            return None
        get = mapping.get
        after = (
            self._script(n, _join(path, "after-script"), "after-script")
            if (n := get("after-script")) is not None
            else ()
        )
        name = self._str(n, _join(path, "name"), "step name") if (n := get("name")) else None
        image = self._image(n, _join(path, "image")) if (n := get("image")) is not None else None
        services = self._refs(
            get("services"), _join(path, "services"), "service", self.service_names, kw.MAX_SERVICES
        )
        caches = self._refs(get("caches"), _join(path, "caches"), "cache", self.cache_names, None)
        artifacts = (
            self._artifacts(n, _join(path, "artifacts"))
            if (n := get("artifacts")) is not None
            else Artifacts()
        )
        deployment = (
            self._str(n, _join(path, "deployment"), "deployment environment")
            if (n := get("deployment")) is not None
            else None
        )
        trigger = (
            self._trigger(n, _join(path, "trigger"))
            if (n := get("trigger")) is not None
            else "automatic"
        )
        size = (
            self._choice(n, _join(path, "size"), "size", kw.SIZES)
            if (n := get("size")) is not None
            else None
        )
        max_time = (
            self._int(n, _join(path, "max-time"), "max-time (minutes)")
            if (n := get("max-time")) is not None
            else None
        )
        clone = self._clone(n, _join(path, "clone")) if (n := get("clone")) is not None else None
        condition = (
            self._condition(n, _join(path, "condition"))
            if (n := get("condition")) is not None
            else None
        )
        runs_on = (
            self._runs_on(n, _join(path, "runs-on")) if (n := get("runs-on")) is not None else ()
        )
        oidc = (
            bool(self._bool(n, _join(path, "oidc"), "oidc"))
            if (n := get("oidc")) is not None
            else False
        )
        fail_fast = (
            self._bool(n, _join(path, "fail-fast"), "fail-fast")
            if (n := get("fail-fast")) is not None
            else None
        )
        return Step(
            mark=mapping.mark,
            script=script,
            name=name,
            image=image,
            after_script=after,
            services=services,
            caches=caches,
            artifacts=artifacts,
            deployment=deployment,
            trigger=trigger,
            size=size,
            max_time=max_time,
            clone=clone,
            condition=condition,
            runs_on=runs_on,
            oidc=oidc,
            fail_fast=fail_fast,
        )

    def _refs(
        self,
        node: YNode | None,
        path: str,
        what: str,
        known: set[str],
        limit: int | None,
    ) -> tuple[tuple[str, Mark], ...]:
        if node is None:
            return ()
        seq = self._seq(node, path, f"{what}s")
        if seq is None:
            return ()
        refs: list[tuple[str, Mark]] = []
        for index, item in enumerate(seq.items):
            name = self._str(item, _join(path, index), f"{what} name")
            if name is None:
                continue
            if name not in known:
                hint = did_you_mean(name, known) or (f"define it under 'definitions: {what}s:'")
                self.sink.error(item.mark, _join(path, index), f"unknown {what} '{name}'", hint)
                continue
            refs.append((name, item.mark))
        if limit is not None and len(refs) > limit:
            self.sink.error(
                seq.mark, path, f"a step can use at most {limit} {what}s, found {len(refs)}"
            )
        return tuple(refs)

    def _artifacts(self, node: YNode, path: str) -> Artifacts:
        if isinstance(node, YSeq):
            return Artifacts(self._str_list(node, path, "artifact path"))
        mapping = self._map(node, path, "artifacts")
        if mapping is None:
            return Artifacts()
        self._check_keys(mapping, path, kw.ARTIFACTS_KEYS, "artifacts")
        paths: tuple[str, ...] = ()
        download = True
        if (n := mapping.get("paths")) is not None:
            paths = self._str_list(n, _join(path, "paths"), "artifact path")
        if (n := mapping.get("download")) is not None:
            if isinstance(n, YSeq):
                self.sink.warning(
                    n.mark,
                    _join(path, "download"),
                    "downloading artifacts by name is not supported; all artifacts are downloaded",
                )
            else:
                download = bool(self._bool(n, _join(path, "download"), "download"))
        if (entry := mapping.entries.get("upload")) is not None:
            self.sink.warning(
                entry.key_mark,
                _join(path, "upload"),
                "named artifact uploads are not supported yet; use 'paths'",
            )
        return Artifacts(paths, download)
