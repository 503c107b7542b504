"""File-level parsing: root, image, clone, options, definitions and the pipelines sections."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from shipline.config import Diagnostic, Mark, ParseResult, PipelineFile, Severity
from shipline.config.bitbucket.model import (
    CacheDef,
    Clone,
    Command,
    Image,
    Options,
    Parallel,
    Pipeline,
    ServiceDef,
    Stage,
    Step,
    Variable,
)

Parse = Callable[[str], ParseResult]
ParseOk = Callable[[str], PipelineFile]
FindDiag = Callable[[ParseResult, str], Diagnostic]

STEP_LINES = "    - step:\n        script: [make]\n"
PIPELINES = """\
pipelines:
  default:
    - step:
        script: [make]
"""


def with_default(text: str) -> str:
    """An indented snippet of root keys followed by a minimal default pipeline."""
    return textwrap.dedent(text).lstrip("\n") + PIPELINES


def first_step(pipeline: Pipeline | None) -> Step:
    assert pipeline is not None
    item = pipeline.items[0]
    assert isinstance(item, Step)
    return item


def commands(step: Step) -> list[str]:
    return [item.text for item in step.script if isinstance(item, Command)]


def where(diag: Diagnostic) -> tuple[int, int, str, Severity]:
    return diag.mark.line, diag.mark.column, diag.path, diag.severity


# ---- root -----------------------------------------------------------------------------------


def test_minimal_file(parse_ok: ParseOk) -> None:
    parsed = parse_ok(PIPELINES)
    step = first_step(parsed.pipelines.default)
    assert commands(step) == ["make"]
    assert step.mark == Mark(4, 9)
    assert parsed.image is None
    assert parsed.clone == Clone()
    assert parsed.options == Options()
    assert parsed.services == {}
    assert parsed.caches == {}


@pytest.mark.parametrize(
    ("text", "found", "mark"),
    [
        ("- a\n- b\n", "a list", Mark(1, 1)),
        ("just text\n", "'just text'", Mark(1, 1)),
        ("---\n", "empty", Mark(2, 1)),  # an explicit, empty document
    ],
)
def test_root_must_be_a_mapping(parse: Parse, text: str, found: str, mark: Mark) -> None:
    result = parse(text)
    assert result.file is None
    [diag] = result.diagnostics
    assert diag.message == f"the file must be a mapping, found {found}"
    assert diag.mark == mark


def test_missing_pipelines_suggests_the_misspelt_key(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("image: python:3\npipeline:\n  default: []\n")
    assert result.file is None
    diag = find_diag(result, "the file has no 'pipelines' section")
    assert where(diag) == (1, 1, "", Severity.ERROR)
    assert diag.hint == "did you mean 'pipelines'?"


def test_missing_pipelines_without_a_near_miss(parse: Parse, find_diag: FindDiag) -> None:
    diag = find_diag(parse("image: python:3\n"), "no 'pipelines' section")
    assert diag.hint == "add 'pipelines:' with at least a 'default:' pipeline"


def test_unknown_top_level_keys_are_accepted_silently(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        with_default(
            """
            x-anchors:
              common: &common {name: shared}
            labels: {team: web}
            export: true
            whatever: [1, 2, 3]
            """
        )
    )
    assert parsed.pipelines.default is not None


def test_triggers_are_warned_about(parse: Parse) -> None:
    result = parse("triggers:\n  repository-push: []\n" + PIPELINES)
    assert result.ok
    [diag] = result.diagnostics
    assert where(diag) == (1, 1, "triggers", Severity.WARNING)
    assert "not supported yet" in diag.message


# ---- image ------------------------------------------------------------------------------------


def test_image_string(parse_ok: ParseOk) -> None:
    parsed = parse_ok("image: atlassian/default-image:4\n" + PIPELINES)
    assert parsed.image == Image("atlassian/default-image:4", Mark(1, 8))


def test_image_number_like_name_stays_as_written(parse_ok: ParseOk) -> None:
    parsed = parse_ok("image: 3.10\n" + PIPELINES)
    assert parsed.image is not None
    assert parsed.image.name == "3.10"


def test_image_object_with_every_key(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        with_default(
            """
            image:
              name: my.registry/app:1
              username: $REG_USER
              password: $REG_PASS
              run-as-user: 1000
              email: ignored@example.com
              aws:
                access-key: $AWS_KEY
                secret-key: $AWS_SECRET
                oidc-role: arn:aws:iam::1:role/x
            """
        )
    )
    assert parsed.image == Image(
        name="my.registry/app:1",
        mark=Mark(2, 3),
        username="$REG_USER",
        password="$REG_PASS",
        run_as_user=1000,
        aws={
            "access-key": "$AWS_KEY",
            "secret-key": "$AWS_SECRET",
            "oidc-role": "arn:aws:iam::1:role/x",
        },
    )


def test_image_run_as_root_is_allowed(parse_ok: ParseOk) -> None:
    parsed = parse_ok("image: {name: x, run-as-user: 0}\n" + PIPELINES)
    assert parsed.image is not None
    assert parsed.image.run_as_user == 0


def test_image_object_needs_a_name(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("image:\n  username: u\n  password: p\n" + PIPELINES)
    diag = find_diag(result, "image needs a 'name'")
    assert where(diag) == (2, 3, "image", Severity.ERROR)
    assert diag.hint == "add 'name: IMAGE:TAG'"
    assert result.file is not None
    assert result.file.image is None


def test_image_unknown_key_and_credentials_half_given(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("image:\n  name: x\n  usename: u\n  password: p\n" + PIPELINES)
    unknown = find_diag(result, "unknown key 'usename' in image")
    assert where(unknown) == (3, 3, "image.usename", Severity.ERROR)
    assert unknown.hint == "did you mean 'username'?"
    half = find_diag(result, "image credentials need both 'username' and 'password'")
    assert where(half) == (2, 3, "image", Severity.ERROR)


def test_image_aws_unknown_key_and_bad_types(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        "image:\n  name: x\n  run-as-user: -1\n  aws:\n    acess-key: k\n    secret-key: [s]\n"
        + PIPELINES
    )
    user = find_diag(result, "run-as-user must be a whole number of at least 0, found '-1'")
    assert where(user) == (3, 16, "image.run-as-user", Severity.ERROR)
    aws_key = find_diag(result, "unknown key 'acess-key' in image aws")
    assert where(aws_key) == (5, 5, "image.aws.acess-key", Severity.ERROR)
    assert aws_key.hint == "did you mean 'access-key'?"
    text = find_diag(result, "variable 'secret-key' must be text")
    assert where(text) == (6, 17, "image.aws.secret-key", Severity.ERROR)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[a, b]", "image must be a mapping, found a list"),
        ("", "image must be text, found empty"),
        ("{name: [x]}", "image name must be text, found a list"),
    ],
)
def test_image_wrong_types(parse: Parse, find_diag: FindDiag, value: str, message: str) -> None:
    result = parse(f"image: {value}\n" + PIPELINES)
    diag = find_diag(result, message)
    assert diag.severity is Severity.ERROR
    assert diag.mark.line == 1
    assert result.file is not None
    assert result.file.image is None


# ---- clone ------------------------------------------------------------------------------------


def test_clone_every_key(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        "clone:\n  depth: 5\n  lfs: true\n  enabled: false\n  skip-ssl-verify: true\n" + PIPELINES
    )
    assert parsed.clone == Clone(depth=5, lfs=True, enabled=False, skip_ssl_verify=True)


def test_clone_depth_full(parse_ok: ParseOk) -> None:
    assert parse_ok("clone: {depth: full}\n" + PIPELINES).clone == Clone(depth="full")


@pytest.mark.parametrize(
    ("value", "message", "column"),
    [
        ("0", "clone depth must be a whole number of at least 1, found '0'", 16),
        ("shallow", "clone depth must be a number or 'full', found 'shallow'", 16),
        ("1.5", "clone depth must be a number or 'full', found '1.5'", 16),
        ("true", "clone depth must be a number or 'full', found 'true'", 16),
    ],
)
def test_clone_bad_depth(
    parse: Parse, find_diag: FindDiag, value: str, message: str, column: int
) -> None:
    result = parse(f"clone: {{depth: {value}}}\n" + PIPELINES)
    diag = find_diag(result, message)
    assert where(diag) == (1, column, "clone.depth", Severity.ERROR)
    assert result.file is not None
    assert result.file.clone.depth is None


def test_clone_flags_must_be_booleans_and_keys_known(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("clone:\n  lfs: 'yes'\n  dept: 3\n" + PIPELINES)
    flag = find_diag(result, "clone lfs must be true or false, found 'yes'")
    assert where(flag) == (2, 8, "clone.lfs", Severity.ERROR)
    unknown = find_diag(result, "unknown key 'dept' in clone")
    assert where(unknown) == (3, 3, "clone.dept", Severity.ERROR)
    assert unknown.hint == "did you mean 'depth'?"


def test_clone_must_be_a_mapping(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("clone: full\n" + PIPELINES)
    assert where(find_diag(result, "clone must be a mapping, found 'full'")) == (
        1,
        8,
        "clone",
        Severity.ERROR,
    )
    assert result.file is not None
    assert result.file.clone == Clone()


# ---- options ----------------------------------------------------------------------------------


def test_options_every_key(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        "options:\n  max-time: 30\n  docker: true\n  size: 2x\n  runs-on: [self.hosted, linux]\n"
        + PIPELINES
    )
    assert parsed.options == Options(
        max_time=30, docker=True, size="2x", runs_on=("self.hosted", "linux")
    )


def test_options_runs_on_single_label(parse_ok: ParseOk) -> None:
    assert parse_ok("options: {runs-on: linux}\n" + PIPELINES).options.runs_on == ("linux",)


def test_options_errors_and_runtime_warning(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        "options:\n  max-time: 0\n  docker: 1\n  size: 3x\n  runtime: {}\n  maxtime: 5\n"
        + PIPELINES
    )
    assert where(find_diag(result, "max-time (minutes) must be a whole number")) == (
        2, 13, "options.max-time", Severity.ERROR,
    )  # fmt: skip
    assert where(find_diag(result, "options.docker must be true or false, found '1'")) == (
        3, 11, "options.docker", Severity.ERROR,
    )  # fmt: skip
    size = find_diag(result, "size '3x' is not allowed")
    assert where(size) == (4, 9, "options.size", Severity.ERROR)
    assert size.hint in ("did you mean '2x'?", "did you mean '32x'?")
    runtime = find_diag(result, "'runtime' is ignored by Shipline")
    assert where(runtime) == (5, 3, "options.runtime", Severity.WARNING)
    unknown = find_diag(result, "unknown key 'maxtime' in options")
    assert unknown.hint == "did you mean 'max-time'?"
    assert result.file is not None
    assert result.file.options == Options()


def test_size_with_no_close_match_lists_the_allowed_values(
    parse: Parse, find_diag: FindDiag
) -> None:
    diag = find_diag(parse("options: {size: huge}\n" + PIPELINES), "size 'huge' is not allowed")
    assert diag.hint == "allowed: 16x, 1x, 2x, 32x, 4x, 8x"


# ---- definitions ------------------------------------------------------------------------------


def test_definitions_services(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        with_default(
            """
            definitions:
              services:
                postgres:
                  image: postgres:16
                  variables:
                    POSTGRES_PASSWORD: secret
                    PORT: 5432
                    EMPTY:
                  memory: 512
                redis:
                  image:
                    name: redis:7
                    username: u
                    password: p
                  environment:
                    MODE: cache
                docker:
                  memory: 2048
                dind:
                  type: docker
            """
        )
    )
    services = parsed.services
    assert list(services) == ["postgres", "redis", "docker", "dind"]
    assert services["postgres"] == ServiceDef(
        name="postgres",
        mark=Mark(4, 7),
        image=Image("postgres:16", Mark(4, 14)),
        variables={"POSTGRES_PASSWORD": "secret", "PORT": "5432", "EMPTY": ""},
        memory=512,
    )
    redis = services["redis"]
    assert redis.image == Image("redis:7", Mark(12, 9), "u", "p")
    assert redis.variables == {"MODE": "cache"}
    assert services["docker"].image is None
    assert services["docker"].memory == 2048
    assert services["dind"].type == "docker"
    assert services["dind"].image is None


def test_service_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        with_default(
            """
            definitions:
              services:
                db:
                  variables: {A: 1}
                  memory: 64
                  imgae: postgres
                cache: redis
                vm:
                  image: x
                  type: vm
                  variables: [A=1]
            """
        )
    )
    no_image = find_diag(result, "service 'db' has no image")
    assert where(no_image) == (4, 7, "definitions.services.db", Severity.ERROR)
    assert no_image.hint == "add 'image: NAME:TAG' (for example 'image: postgres:16')"
    memory = find_diag(result, "service memory (MB) must be a whole number of at least 128")
    assert where(memory) == (5, 15, "definitions.services.db.memory", Severity.ERROR)
    typo = find_diag(result, "unknown key 'imgae' in service 'db'")
    assert typo.hint == "did you mean 'image'?"
    scalar = find_diag(result, "service 'cache' must be a mapping, found 'redis'")
    assert where(scalar) == (7, 12, "definitions.services.cache", Severity.ERROR)
    kind = find_diag(result, "service type 'vm' is not allowed")
    assert kind.hint == "did you mean 'docker'?" or kind.hint == "allowed: docker"
    variables = find_diag(result, "service variables must be a mapping, found a list")
    assert variables.path == "definitions.services.vm.variables"
    assert result.file is not None
    assert set(result.file.services) == {"db", "vm"}


def test_service_variable_values_must_be_text(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        "definitions:\n  services:\n    db:\n      image: x\n      variables:\n"
        "        LIST: [a]\n" + PIPELINES
    )
    diag = find_diag(result, "variable 'LIST' must be text")
    assert where(diag) == (6, 15, "definitions.services.db.variables.LIST", Severity.ERROR)


def test_definitions_caches_path_and_key_forms(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        with_default(
            """
            definitions:
              caches:
                bundler: vendor/bundle
                deps:
                  key:
                    files:
                      - package-lock.json
                      - "**/yarn.lock"
                  path: node_modules
            """
        )
    )
    assert parsed.caches == {
        "bundler": CacheDef("bundler", Mark(3, 14), "vendor/bundle"),
        "deps": CacheDef("deps", Mark(5, 7), "node_modules", ("package-lock.json", "**/yarn.lock")),
    }


def test_redefining_a_predefined_cache_is_noted(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("definitions:\n  caches:\n    pip: .pip-cache\n" + PIPELINES)
    assert result.ok
    diag = find_diag(result, "custom cache 'pip' replaces the predefined one")
    assert where(diag) == (3, 10, "definitions.caches.pip", Severity.INFO)
    assert result.file is not None
    assert result.file.caches["pip"].path == ".pip-cache"


def test_cache_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        with_default(
            """
            definitions:
              caches:
                nopath:
                  key: {files: [a]}
                nofiles:
                  path: x
                  key: {file: [a]}
                listed: [a, b]
                badkey:
                  path: y
                  key: lockfile
                extra:
                  path: z
                  paths: [z]
            """
        )
    )
    assert where(find_diag(result, "cache 'nopath' needs a 'path'")) == (
        4, 7, "definitions.caches.nopath", Severity.ERROR,
    )  # fmt: skip
    assert where(find_diag(result, "cache key needs 'files'")) == (
        7, 12, "definitions.caches.nofiles.key", Severity.ERROR,
    )  # fmt: skip
    unknown_key = find_diag(result, "unknown key 'file' in cache key")
    assert unknown_key.hint == "did you mean 'files'?"
    assert find_diag(result, "cache 'listed' must be a mapping, found a list").mark == Mark(8, 13)
    assert find_diag(result, "cache key must be a mapping, found 'lockfile'").path == (
        "definitions.caches.badkey.key"
    )
    assert find_diag(result, "unknown key 'paths' in cache 'extra'").hint == (
        "did you mean 'path'?"
    )
    assert result.file is not None
    # Caches with a usable path survive their key errors; the rest are dropped.
    assert set(result.file.caches) == {"nofiles", "badkey", "extra"}


def test_unknown_keys_under_definitions_are_free_form(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        definitions:
          steps:
            - step: &build
                name: Build
                script: [make]
          scripts:
            - &setup echo setup
          yaml-anchors:
            anything: [goes, here]
        pipelines:
          default:
            - step: *build
            - step:
                script:
                  - *setup
                  - make test
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    build, test = default.items
    assert isinstance(build, Step)
    assert isinstance(test, Step)
    assert build.name == "Build"
    # Positions point where the anchored content was written (at the anchor).
    assert build.mark == Mark(3, 13)
    assert commands(test) == ["echo setup", "make test"]
    assert test.script[0].mark == Mark(7, 7)


def test_definitions_must_be_a_mapping(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("definitions: [a]\n" + PIPELINES)
    assert find_diag(result, "'definitions' must be a mapping, found a list").path == (
        "definitions"
    )
    result = parse("definitions:\n  services: [a]\n  caches: x\n" + PIPELINES)
    assert find_diag(result, "'services' must be a mapping").path == "definitions.services"
    assert find_diag(result, "'caches' must be a mapping").path == "definitions.caches"


# ---- merge keys in a real pipeline ------------------------------------------------------------


def test_step_built_from_merge_keys(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        definitions:
          steps:
            - step: &base
                name: Base
                size: 2x
                script: [make base]
            - step: &deploy
                deployment: test
                trigger: manual
                name: Deploy
        pipelines:
          default:
            - step:
                <<: [*base, *deploy]
                script: [make release]
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    merged = default.items[0]
    assert isinstance(merged, Step)
    assert merged.name == "Base"  # earlier merge source wins
    assert merged.size == "2x"
    assert merged.deployment == "test"
    assert merged.trigger == "manual"
    assert commands(merged) == ["make release"]  # explicit key wins


# ---- pipelines sections -----------------------------------------------------------------------


def test_every_pipeline_section(parse: Parse) -> None:
    result = parse(
        """
        pipelines:
          default:
            - step: {script: [d]}
          branches:
            main:
              - step: {script: [b1]}
            'release/*':
              - step: {script: [b2]}
          tags:
            'v*':
              - step: {script: [t]}
          bookmarks:
            stable:
              - step: {script: [bm]}
          pull-requests:
            '**':
              - step: {script: [pr]}
          custom:
            nightly:
              - step: {script: [c]}
        """
    )
    assert result.ok
    [warning] = result.diagnostics
    assert where(warning) == (13, 5, "pipelines.bookmarks", Severity.WARNING)
    assert "Mercurial bookmarks are not supported" in warning.message
    assert result.file is not None
    pipes = result.file.pipelines
    assert commands(first_step(pipes.default)) == ["d"]
    assert list(pipes.branches) == ["main", "release/*"]
    assert commands(first_step(pipes.branches["release/*"])) == ["b2"]
    assert commands(first_step(pipes.tags["v*"])) == ["t"]
    assert commands(first_step(pipes.bookmarks["stable"])) == ["bm"]
    assert commands(first_step(pipes.pull_requests["**"].pipeline)) == ["pr"]
    assert pipes.pull_requests["**"].destinations == {}
    assert commands(first_step(pipes.custom["nightly"])) == ["c"]
    assert pipes.custom["nightly"].variables == ()


def test_section_names_are_stripped(parse_ok: ParseOk) -> None:
    parsed = parse_ok("pipelines:\n  branches:\n    ' main ':\n      - step: {script: [x]}\n")
    assert list(parsed.pipelines.branches) == ["main"]


def test_numeric_branch_names_are_text(parse_ok: ParseOk) -> None:
    parsed = parse_ok("pipelines:\n  tags:\n    1.0:\n      - step: {script: [x]}\n")
    assert list(parsed.pipelines.tags) == ["1.0"]


def test_pull_requests_destinations_form(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          pull-requests:
            'feature/*':
              destinations:
                main:
                  - step: {script: [to-main]}
                'release/*':
                  - step: {script: [to-release]}
        """
    )
    pr = parsed.pipelines.pull_requests["feature/*"]
    assert pr.pipeline is None
    assert pr.mark == Mark(4, 7)
    assert list(pr.destinations) == ["main", "release/*"]
    assert commands(first_step(pr.destinations["release/*"])) == ["to-release"]


def test_pull_requests_mapping_without_destinations(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        "pipelines:\n  pull-requests:\n    '**':\n      destination:\n        main: []\n"
    )
    unknown = find_diag(result, "unknown key 'destination' in a pull-request pipeline")
    assert unknown.hint == "did you mean 'destinations'?"
    missing = find_diag(result, "expected a list of steps or 'destinations:'")
    assert where(missing) == (4, 7, "pipelines.pull-requests.**", Severity.ERROR)


def test_unknown_pipelines_key(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  branch:\n    main: []\n  default:\n" + STEP_LINES)
    diag = find_diag(result, "unknown key 'branch' in 'pipelines'")
    assert where(diag) == (2, 3, "pipelines.branch", Severity.ERROR)
    assert diag.hint == "did you mean 'branches'?"


def test_empty_pipelines_section(parse: Parse, find_diag: FindDiag) -> None:
    diag = find_diag(parse("pipelines: {}\n"), "'pipelines' defines no pipeline")
    assert where(diag) == (1, 12, "pipelines", Severity.ERROR)
    assert diag.hint == "add 'default:' or 'branches:'"


@pytest.mark.parametrize(
    ("text", "message", "path"),
    [
        ("pipelines: [a]\n", "'pipelines' must be a mapping, found a list", "pipelines"),
        ("pipelines:\n  branches: [a]\n", "'branches' must be a mapping", "pipelines.branches"),
        ("pipelines:\n  default:\n", "a pipeline must be a list, found empty", "pipelines.default"),
        ("pipelines:\n  default: []\n", "a pipeline needs at least one step", "pipelines.default"),
        (
            "pipelines:\n  custom:\n    x: {step: {}}\n",
            "a pipeline must be a list, found a mapping",
            "pipelines.custom.x",
        ),
        (
            "pipelines:\n  pull-requests: x\n",
            "'pull-requests' must be a mapping",
            "pipelines.pull-requests",
        ),
    ],
)
def test_section_shape_errors(
    parse: Parse, find_diag: FindDiag, text: str, message: str, path: str
) -> None:
    diag = find_diag(parse(text), message)
    assert diag.path == path
    assert diag.severity is Severity.ERROR


def test_pipeline_list_hint(parse: Parse, find_diag: FindDiag) -> None:
    diag = find_diag(parse("pipelines:\n  default: make\n"), "a pipeline must be a list")
    assert diag.hint == "start each entry on its own line with '- '"
    assert diag.mark == Mark(2, 12)


def test_pipeline_item_with_several_keys_gets_an_indentation_hint(
    parse: Parse, find_diag: FindDiag
) -> None:
    result = parse("pipelines:\n  default:\n    - step:\n      script: [make]\n")
    diag = find_diag(result, "a pipeline item holds exactly one of step, parallel or stage")
    assert diag.message.endswith("found step, script")
    assert where(diag) == (3, 7, "pipelines.default[0]", Severity.ERROR)
    assert diag.hint == "indent the step's keys under '- step:'"


def test_unknown_pipeline_item(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  default:\n    - stepp:\n        script: [x]\n    - bogus: 1\n")
    typo = find_diag(result, "unknown pipeline item 'stepp'")
    assert where(typo) == (3, 7, "pipelines.default[0].stepp", Severity.ERROR)
    assert typo.hint == "did you mean 'step'?"
    other = find_diag(result, "unknown pipeline item 'bogus'")
    assert other.hint == "allowed: final, parallel, stage, step"


def test_pipeline_item_must_be_a_mapping(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  default:\n    - make\n")
    diag = find_diag(result, "a pipeline item must be a mapping, found 'make'")
    assert where(diag) == (3, 7, "pipelines.default[0]", Severity.ERROR)


# ---- custom pipeline variables ----------------------------------------------------------------


def test_custom_variables(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          custom:
            deploy:
              - variables:
                  - name: ENV
                    default: staging
                    allowed-values: [staging, production]
                    description: Where to deploy
                  - name: VERSION
                  - name: RETRIES
                    default: 3
              - step:
                  script: [./deploy.sh]
        """
    )
    custom = parsed.pipelines.custom["deploy"]
    assert custom.variables == (
        Variable("ENV", Mark(5, 13), "staging", ("staging", "production"), "Where to deploy"),
        Variable("VERSION", Mark(9, 13)),
        Variable("RETRIES", Mark(10, 13), "3"),
    )
    assert len(custom.items) == 1


def test_variables_must_come_first(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          custom:
            deploy:
              - step: {script: [x]}
              - variables:
                  - name: ENV
        """
    )
    diag = find_diag(result, "'variables' must be the first item of a custom pipeline")
    assert where(diag) == (5, 9, "pipelines.custom.deploy[1].variables", Severity.ERROR)
    assert result.file is not None
    # Still read, so later stages can report on them.
    assert [v.name for v in result.file.pipelines.custom["deploy"].variables] == ["ENV"]


def test_variables_only_in_custom_pipelines(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  default:\n    - variables:\n        - name: X\n" + STEP_LINES)
    diag = find_diag(result, "unknown pipeline item 'variables'")
    assert diag.hint == "only custom pipelines take 'variables'"


def test_variable_default_must_be_allowed(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          custom:
            deploy:
              - variables:
                  - name: ENV
                    default: qa
                    allowed-values: [staging, production]
              - step: {script: [x]}
        """
    )
    diag = find_diag(result, "default 'qa' of variable 'ENV' is not in its allowed-values")
    assert where(diag) == (5, 13, "pipelines.custom.deploy[0].variables[0]", Severity.ERROR)
    assert diag.hint == "allowed: production, staging"


def test_allowed_values_need_a_default(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          custom:
            deploy:
              - variables:
                  - name: ENV
                    allowed-values: [a, b]
              - step: {script: [x]}
        """
    )
    diag = find_diag(result, "variable 'ENV' has allowed-values but no default")
    assert where(diag) == (5, 13, "pipelines.custom.deploy[0].variables[0]", Severity.ERROR)
    assert diag.hint == "Bitbucket requires a default from the allowed values"


def test_variable_shape_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          custom:
            deploy:
              - variables:
                  - default: x
                  - ENV
                  - name: [A]
                  - name: B
                    defualt: y
              - step: {script: [x]}
        """
    )
    assert find_diag(result, "a variable needs a 'name'").mark == Mark(5, 13)
    assert find_diag(result, "a variable must be a mapping, found 'ENV'").mark == Mark(6, 13)
    assert find_diag(result, "variable name must be text, found a list").mark == Mark(7, 19)
    typo = find_diag(result, "unknown key 'defualt' in a custom variable")
    assert typo.hint == "did you mean 'default'?"
    assert result.file is not None
    assert [v.name for v in result.file.pipelines.custom["deploy"].variables] == ["B"]


def test_custom_pipeline_of_only_variables_is_an_error(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  custom:\n    x:\n      - variables: [{name: A}]\n")
    diag = find_diag(result, "a pipeline needs at least one step")
    assert where(diag) == (4, 7, "pipelines.custom.x", Severity.ERROR)
    assert result.file is not None
    assert result.file.pipelines.custom == {}


def test_empty_names_are_errors_not_silently_dropped(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        image: ''
        definitions:
          caches:
            c: ''
            d: {path: ' '}
        pipelines:
          custom:
            x:
              - variables: [{name: ''}]
              - step:
                  image: {name: ''}
                  script: [make]
        """
    )
    assert where(find_diag(result, "image must not be empty")) == (1, 8, "image", Severity.ERROR)
    assert find_diag(result, "cache 'c' path must not be empty").path == "definitions.caches.c"
    assert find_diag(result, "cache path must not be empty").path == "definitions.caches.d.path"
    assert find_diag(result, "variable name must not be empty").mark == Mark(9, 28)
    assert find_diag(result, "image name must not be empty").path == (
        "pipelines.custom.x[1].step.image.name"
    )


# ---- deployments across a pipeline ------------------------------------------------------------


def test_same_deployment_twice_in_one_pipeline_warns(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - step: {deployment: staging, script: [a]}
            - parallel:
                - step: {deployment: staging, script: [b]}
            - stage:
                deployment: production
                steps:
                  - step: {script: [c]}
            - step: {deployment: production, script: [d]}
        """
    )
    assert result.ok
    staging = find_diag(result, "deployment environment 'staging' is used more than once")
    assert staging.message.endswith("(first at line 3)")
    # Reported at the later item (the parallel group's list of steps).
    assert where(staging) == (5, 9, "pipelines.default", Severity.WARNING)
    production = find_diag(result, "deployment environment 'production' is used more than once")
    assert production.message.endswith("(first at line 7)")
    assert production.hint == "Bitbucket rejects this; use one step per environment"


def test_kinds_of_items_are_kept_in_order(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          default:
            - step: {script: [a]}
            - parallel:
                - step: {script: [b]}
            - stage:
                steps:
                  - step: {script: [c]}
            - final:
                script: [z]
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    assert [type(item) for item in default.items] == [Step, Parallel, Stage]
    assert default.final is not None
    assert commands(default.final) == ["z"]
    assert default.mark == Mark(3, 5)
