"""Compiling a parsed pipeline file and an event into a frozen, executor-ready Plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from shipline.config import PipelineFile
from shipline.errors import PlanError
from shipline.plan import (
    ArtifactRule,
    CacheSpec,
    ChangesetRule,
    CloneSpec,
    CommandLine,
    Event,
    ImageSpec,
    ParallelGroup,
    ParallelPosition,
    PipeCall,
    Plan,
    ServiceSpec,
    StageSpec,
    StepSpec,
    compile_plan,
    resolve_variables,
)

ParseYaml = Callable[[str], PipelineFile]
PlanFor = Callable[..., Plan]

# Items: step, parallel (mapping form), stage, parallel (list form), unnamed stage, final.
LAYOUT = """
pipelines:
  default:
    - step:
        script: [echo one]
    - parallel:
        fail-fast: true
        steps:
          - step:
              script: [echo p1]
          - step:
              fail-fast: false
              script: [echo p2]
          - step:
              name: Lint
              script: [echo p3]
    - stage:
        name: Deploy
        deployment: staging
        trigger: manual
        steps:
          - step:
              script: [echo s1]
          - step:
              name: Smoke
              script: [echo s2]
    - parallel:
        - step:
            script: [echo q1]
        - step:
            script: [echo q2]
    - stage:
        steps:
          - step:
              script: [echo u1]
    - final:
        script: [echo bye]
"""


@pytest.fixture
def layout(plan_for: PlanFor) -> Plan:
    return plan_for(LAYOUT)


def _text(step: StepSpec) -> list[str]:
    return [entry.text for entry in step.script if isinstance(entry, CommandLine)]


def _only_step(plan: Plan) -> StepSpec:
    steps = list(plan.steps())
    assert len(steps) == 1, steps
    return steps[0]


def _step_yaml(body: str, head: str = "") -> str:
    """A file with optional top-level keys (`head`) and one default step with `body` keys."""
    indented = "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return f"{head}\npipelines:\n  default:\n    - step:\n{indented}"


# ---- structure -----------------------------------------------------------------------------


def test_plan_header(layout: Plan) -> None:
    assert layout.pipeline == "default"
    assert layout.event == Event(branch="main")
    assert "default" in layout.reason
    assert layout.variables == ()


def test_item_kinds_and_numbers(layout: Plan) -> None:
    kinds = [type(item) for item in layout.items]
    assert kinds == [StepSpec, ParallelGroup, StageSpec, ParallelGroup, StageSpec]
    assert [item.number for item in layout.items] == [1, 2, 3, 4, 5]
    first_group = layout.items[1]
    assert isinstance(first_group, ParallelGroup)
    assert first_group.number == 2


def test_steps_are_numbered_in_order_across_groups_stages_and_final(layout: Plan) -> None:
    steps = list(layout.steps())
    assert [s.number for s in steps] == list(range(1, 11))
    assert [s.id for s in steps] == [f"step-{n}" for n in range(1, 11)]
    assert [_text(s)[0] for s in steps] == [
        "echo one",
        "echo p1",
        "echo p2",
        "echo p3",
        "echo s1",
        "echo s2",
        "echo q1",
        "echo q2",
        "echo u1",
        "echo bye",
    ]


def test_final_step(layout: Plan) -> None:
    assert layout.final is not None
    assert layout.final.final
    assert layout.final.id == "step-10"
    assert layout.final.name == "Step 10"
    assert list(layout.steps())[-1] is layout.final
    assert [s.final for s in layout.steps()].count(True) == 1


def test_parallel_positions(layout: Plan) -> None:
    first, second = (item for item in layout.items if isinstance(item, ParallelGroup))
    assert [s.parallel for s in first.steps] == [
        ParallelPosition(group=2, index=0, count=3),
        ParallelPosition(group=2, index=1, count=3),
        ParallelPosition(group=2, index=2, count=3),
    ]
    assert [s.parallel for s in second.steps] == [
        ParallelPosition(group=4, index=0, count=2),
        ParallelPosition(group=4, index=1, count=2),
    ]
    outside = [s for s in layout.steps() if s not in first.steps and s not in second.steps]
    assert all(s.parallel is None for s in outside)


def test_fail_fast_is_inherited_from_the_group_unless_the_step_sets_it(layout: Plan) -> None:
    first, second = (item for item in layout.items if isinstance(item, ParallelGroup))
    assert first.fail_fast
    assert [s.fail_fast for s in first.steps] == [True, False, True]
    assert not second.fail_fast
    assert [s.fail_fast for s in second.steps] == [False, False]
    assert not layout.step("step-1").fail_fast


def test_step_fail_fast_inside_a_group_without_fail_fast(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - parallel:
                - step:
                    fail-fast: true
                    script: [echo a]
                - step:
                    script: [echo b]
        """
    )
    assert [s.fail_fast for s in plan.steps()] == [True, False]


def test_stage_fields_and_propagation(layout: Plan) -> None:
    deploy = layout.items[2]
    assert isinstance(deploy, StageSpec)
    assert deploy.name == "Deploy"
    assert deploy.deployment == "staging"
    assert deploy.manual
    assert deploy.changesets is None
    assert [s.stage for s in deploy.steps] == ["Deploy", "Deploy"]
    assert [s.deployment for s in deploy.steps] == ["staging", "staging"]
    assert [s.name for s in deploy.steps] == ["Deploy to staging", "Smoke"]


def test_unnamed_stage_is_named_after_its_position(layout: Plan) -> None:
    unnamed = layout.items[4]
    assert isinstance(unnamed, StageSpec)
    assert unnamed.name == "Stage 5"
    assert unnamed.deployment is None
    assert not unnamed.manual
    assert unnamed.steps[0].stage == "Stage 5"
    assert unnamed.steps[0].deployment is None


def test_steps_outside_stages_have_no_stage(layout: Plan) -> None:
    assert [s.stage for s in layout.steps()] == [
        None,
        None,
        None,
        None,
        "Deploy",
        "Deploy",
        None,
        None,
        "Stage 5",
        None,
    ]


def test_default_step_names(layout: Plan) -> None:
    assert [s.name for s in layout.steps()] == [
        "Step 1",
        "Step 2",
        "Step 3",
        "Lint",
        "Deploy to staging",
        "Smoke",
        "Step 7",
        "Step 8",
        "Step 9",
        "Step 10",
    ]


def test_deployment_step_default_name(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - step:
                script: [echo build]
            - step:
                deployment: production
                script: [echo deploy]
            - step:
                name: Ship it
                deployment: test
                script: [echo deploy]
        """
    )
    assert [(s.name, s.deployment) for s in plan.steps()] == [
        ("Step 1", None),
        ("Deploy to production", "production"),
        ("Ship it", "test"),
    ]


def test_steps_and_step_lookup(layout: Plan) -> None:
    steps = list(layout.steps())
    assert list(layout.steps()) == steps  # steps() can be iterated again
    for step in steps:
        assert layout.step(step.id) is step
    with pytest.raises(KeyError):
        layout.step("step-11")
    with pytest.raises(KeyError):
        layout.step("step-0")


def test_plan_without_final(plan_for: PlanFor) -> None:
    plan = plan_for(_step_yaml("script: [echo hi]"))
    assert plan.final is None
    assert [s.id for s in plan.steps()] == ["step-1"]


# ---- manual triggers -----------------------------------------------------------------------


def test_manual_trigger_on_a_step(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - step:
                script: [echo build]
            - step:
                trigger: manual
                script: [echo deploy]
            - step:
                trigger: automatic
                script: [echo after]
        """
    )
    assert [s.manual for s in plan.steps()] == [False, True, False]


def test_manual_trigger_on_a_stage_marks_the_stage(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - stage:
                name: Build
                steps:
                  - step:
                      script: [echo build]
            - stage:
                name: Release
                trigger: manual
                steps:
                  - step:
                      script: [echo release]
                  - step:
                      trigger: manual
                      script: [echo announce]
        """
    )
    build, release = plan.items
    assert isinstance(build, StageSpec)
    assert isinstance(release, StageSpec)
    assert not build.manual
    assert release.manual
    assert release.steps[1].manual


# ---- frozen and deterministic --------------------------------------------------------------


def test_plan_and_its_parts_are_frozen(layout: Plan) -> None:
    step = layout.step("step-1")
    group = layout.items[1]
    stage = layout.items[2]
    assert isinstance(group, ParallelGroup)
    assert isinstance(stage, StageSpec)
    assert layout.final is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.final = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.pipeline = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.name = "renamed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.clone.depth = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.artifacts.download = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        group.number = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.parallel = ParallelPosition(1, 0, 1)  # type: ignore[misc]
    assert group.steps[0].parallel is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        group.steps[0].parallel.index = 5  # type: ignore[misc]
    assert isinstance(layout.items, tuple)
    assert isinstance(step.script, tuple)


RICH = """
image: python:3.12
clone:
  depth: 10
options:
  max-time: 30
definitions:
  services:
    postgres:
      image: postgres:16
      memory: 2048
      variables:
        POSTGRES_PASSWORD: secret
        POSTGRES_DB: app
  caches:
    deps:
      key:
        files: [poetry.lock, pyproject.toml]
      path: .venv
pipelines:
  custom:
    release:
      - variables:
          - name: TARGET
            default: staging
            allowed-values: [staging, production]
      - step:
          name: Test
          image:
            name: registry.example.com/ci:1
            username: $USER
            password: $PASS
            run-as-user: 1000
          services: [postgres, docker]
          caches: [pip, deps]
          script:
            - pytest
            - pipe: atlassian/slack-notify:2.0.0
              variables:
                WEBHOOK: $HOOK
                MESSAGE: done
                EXTRA_ARGS: ['-v', '--fast']
          after-script:
            - echo after
          artifacts:
            - dist/**
          condition:
            changesets:
              includePaths: ['src/**']
      - parallel:
          - step:
              script: [echo a]
          - step:
              script: [echo b]
      - final:
          script: [echo done]
"""


def test_compiling_twice_gives_equal_plans(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(RICH)
    event = Event(custom="release", branch="main", variables=(("TARGET", "production"),))
    first = compile_plan(file, event)
    second = compile_plan(file, event)
    again = compile_plan(parse_yaml(RICH), event)
    assert isinstance(first, Plan)
    assert first == second == again
    assert first is not second
    assert hash(first) == hash(again)
    assert repr(first) == repr(again)


# ---- images --------------------------------------------------------------------------------


def test_step_image_overrides_the_global_one(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        image: python:3.12
        pipelines:
          default:
            - step:
                script: [echo global]
            - step:
                image: node:20
                script: [echo own]
        """
    )
    assert [s.image for s in plan.steps()] == [ImageSpec("python:3.12"), ImageSpec("node:20")]


def test_no_image_anywhere(plan_for: PlanFor) -> None:
    assert _only_step(plan_for(_step_yaml("script: [echo hi]"))).image is None


def test_image_details(parse_yaml: ParseYaml) -> None:
    plan = compile_plan(parse_yaml(RICH), Event(custom="release"))
    assert isinstance(plan, Plan)
    assert plan.step("step-1").image == ImageSpec(
        "registry.example.com/ci:1", "$USER", "$PASS", 1000
    )
    assert plan.step("step-2").image == ImageSpec("python:3.12")


def test_image_aws_credentials_are_sorted_pairs(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        image:
          name: 123.dkr.ecr.eu-west-1.amazonaws.com/ci:1
          aws:
            secret-key: $SECRET
            access-key: $KEY
        pipelines:
          default:
            - step:
                script: [echo hi]
        """
    )
    image = _only_step(plan).image
    assert image is not None
    assert image.aws == (("access-key", "$KEY"), ("secret-key", "$SECRET"))


# ---- services and docker -------------------------------------------------------------------


def test_services_are_resolved(parse_yaml: ParseYaml) -> None:
    plan = compile_plan(parse_yaml(RICH), Event(custom="release"))
    assert isinstance(plan, Plan)
    step = plan.step("step-1")
    assert step.services == (
        ServiceSpec(
            "postgres",
            ImageSpec("postgres:16"),
            (("POSTGRES_DB", "app"), ("POSTGRES_PASSWORD", "secret")),
            2048,
            None,
        ),
        ServiceSpec("docker", None, (), 1024, "docker"),
    )
    assert step.docker
    assert not plan.step("step-2").docker
    assert plan.step("step-2").services == ()


def test_service_memory_defaults_to_1024(plan_for: PlanFor) -> None:
    plan = plan_for(
        _step_yaml(
            "services: [redis]\nscript: [echo hi]",
            head="definitions:\n  services:\n    redis:\n      image: redis:7",
        )
    )
    (service,) = _only_step(plan).services
    assert service == ServiceSpec("redis", ImageSpec("redis:7"), (), 1024, None)
    assert not _only_step(plan).docker


def test_docker_service_with_a_definition(plan_for: PlanFor) -> None:
    plan = plan_for(
        _step_yaml(
            "services: [docker]\nscript: [docker build .]",
            head="definitions:\n  services:\n    docker:\n      memory: 3072",
        )
    )
    step = _only_step(plan)
    assert step.services == (ServiceSpec("docker", None, (), 3072, "docker"),)
    assert step.docker


def test_custom_service_of_type_docker_enables_docker(plan_for: PlanFor) -> None:
    head = """
definitions:
  services:
    dind:
      type: docker
      image: docker:dind
"""
    step = _only_step(plan_for(_step_yaml("services: [dind]\nscript: [echo hi]", head=head)))
    assert step.services[0].type == "docker"
    assert step.docker


def test_options_docker_enables_docker_on_every_step(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        options:
          docker: true
        pipelines:
          default:
            - step:
                script: [echo a]
            - parallel:
                - step:
                    script: [echo b]
                - step:
                    script: [echo c]
        """
    )
    assert [s.docker for s in plan.steps()] == [True, True, True]
    assert all(s.services == () for s in plan.steps())


# ---- caches --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("pip", "~/.cache/pip"),
        ("node", "node_modules"),
        ("maven", "~/.m2/repository"),
        ("gradle", "~/.gradle/caches"),
        ("composer", "~/.composer/cache"),
        ("docker", "/var/lib/docker"),
    ],
)
def test_predefined_caches(plan_for: PlanFor, name: str, path: str) -> None:
    step = _only_step(plan_for(_step_yaml(f"caches: [{name}]\nscript: [echo hi]")))
    assert step.caches == (CacheSpec(name, path, (), predefined=True),)


def test_custom_caches_with_key_files(parse_yaml: ParseYaml) -> None:
    plan = compile_plan(parse_yaml(RICH), Event(custom="release"))
    assert isinstance(plan, Plan)
    assert plan.step("step-1").caches == (
        CacheSpec("pip", "~/.cache/pip", (), predefined=True),
        CacheSpec("deps", ".venv", ("poetry.lock", "pyproject.toml")),
    )


def test_a_custom_cache_replaces_the_predefined_one(plan_for: PlanFor) -> None:
    head = "definitions:\n  caches:\n    node: web/node_modules\n"
    step = _only_step(plan_for(_step_yaml("caches: [node]\nscript: [echo hi]", head=head)))
    assert step.caches == (CacheSpec("node", "web/node_modules"),)
    assert not step.caches[0].predefined


# ---- artifacts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("script: [echo hi]", ArtifactRule()),
        (
            "artifacts: [dist/**, 'reports/*.xml']\nscript: [echo hi]",
            ArtifactRule(("dist/**", "reports/*.xml")),
        ),
        (
            "artifacts:\n  paths: [dist/**]\nscript: [echo hi]",
            ArtifactRule(("dist/**",), download=True),
        ),
        (
            "artifacts:\n  download: false\n  paths: [out/*]\nscript: [echo hi]",
            ArtifactRule(("out/*",), download=False),
        ),
        ("artifacts:\n  download: false\nscript: [echo hi]", ArtifactRule((), download=False)),
    ],
)
def test_artifacts(plan_for: PlanFor, body: str, rule: ArtifactRule) -> None:
    assert _only_step(plan_for(_step_yaml(body))).artifacts == rule


# ---- max-time, size, runs-on, oidc ---------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "body", "minutes"),
    [
        ("", "script: [echo hi]", 120),
        ("options:\n  max-time: 30", "script: [echo hi]", 30),
        ("options:\n  max-time: 30", "max-time: 5\nscript: [echo hi]", 5),
        ("", "max-time: 240\nscript: [echo hi]", 240),
    ],
)
def test_max_time(plan_for: PlanFor, head: str, body: str, minutes: int) -> None:
    assert _only_step(plan_for(_step_yaml(body, head=head))).max_time_minutes == minutes


@pytest.mark.parametrize(
    ("head", "body", "size", "memory"),
    [
        ("", "script: [echo hi]", "1x", 4096),
        ("", "size: 2x\nscript: [echo hi]", "2x", 8192),
        ("options:\n  size: 4x", "script: [echo hi]", "4x", 16384),
        ("options:\n  size: 4x", "size: 8x\nscript: [echo hi]", "8x", 32768),
    ],
)
def test_size(plan_for: PlanFor, head: str, body: str, size: str, memory: int) -> None:
    step = _only_step(plan_for(_step_yaml(body, head=head)))
    assert step.size == size
    assert step.memory_mb == memory


@pytest.mark.parametrize(
    ("head", "body", "labels"),
    [
        ("", "script: [echo hi]", ()),
        (
            "options:\n  runs-on: [self.hosted, linux]",
            "script: [echo hi]",
            ("self.hosted", "linux"),
        ),
        ("options:\n  runs-on: self.hosted", "script: [echo hi]", ("self.hosted",)),
        (
            "options:\n  runs-on: [self.hosted, linux]",
            "runs-on: [self.hosted, gpu]\nscript: [echo hi]",
            ("self.hosted", "gpu"),
        ),
    ],
)
def test_runs_on(plan_for: PlanFor, head: str, body: str, labels: tuple[str, ...]) -> None:
    assert _only_step(plan_for(_step_yaml(body, head=head))).runs_on == labels


def test_oidc(plan_for: PlanFor) -> None:
    assert _only_step(plan_for(_step_yaml("oidc: true\nscript: [echo hi]"))).oidc
    assert not _only_step(plan_for(_step_yaml("script: [echo hi]"))).oidc


# ---- clone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "body", "clone"),
    [
        ("", "", CloneSpec(enabled=True, depth=50, lfs=False, skip_ssl_verify=False)),
        ("clone:\n  depth: full", "", CloneSpec(depth=None)),
        ("clone:\n  depth: 5", "", CloneSpec(depth=5)),
        ("clone:\n  enabled: false", "", CloneSpec(enabled=False)),
        (
            "clone:\n  lfs: true\n  skip-ssl-verify: true",
            "",
            CloneSpec(lfs=True, skip_ssl_verify=True),
        ),
        ("", "clone:\n  depth: full", CloneSpec(depth=None)),
        ("clone:\n  depth: full", "clone:\n  depth: 3", CloneSpec(depth=3)),
        ("clone:\n  depth: 3", "clone:\n  depth: full", CloneSpec(depth=None)),
        # a step's clone overrides only the fields it sets
        ("clone:\n  depth: 7\n  lfs: true", "clone:\n  enabled: false", CloneSpec(False, 7, True)),
        ("clone:\n  enabled: false", "clone:\n  enabled: true", CloneSpec(enabled=True)),
        ("clone:\n  lfs: true", "clone:\n  lfs: false", CloneSpec(lfs=False)),
        (
            "clone:\n  skip-ssl-verify: true",
            "clone:\n  depth: 1",
            CloneSpec(depth=1, skip_ssl_verify=True),
        ),
    ],
)
def test_clone(plan_for: PlanFor, head: str, body: str, clone: CloneSpec) -> None:
    step = _only_step(plan_for(_step_yaml(body + "\nscript: [echo hi]", head=head)))
    assert step.clone == clone


def test_clone_depth_default_applies_to_every_step(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - step:
                script: [echo a]
            - step:
                clone:
                  depth: full
                script: [echo b]
            - step:
                script: [echo c]
        """
    )
    assert [s.clone.depth for s in plan.steps()] == [50, None, 50]


# ---- changesets ----------------------------------------------------------------------------


def test_step_changesets(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - step:
                script: [echo always]
            - step:
                condition:
                  changesets:
                    includePaths: ['src/**', 'pyproject.toml']
                script: [echo src]
            - step:
                condition:
                  changesets:
                    excludePaths: ['docs/**']
                script: [echo not-docs]
        """
    )
    assert [s.changesets for s in plan.steps()] == [
        None,
        ChangesetRule(include_paths=("src/**", "pyproject.toml")),
        ChangesetRule(exclude_paths=("docs/**",)),
    ]


def test_stage_changesets(plan_for: PlanFor) -> None:
    plan = plan_for(
        """
        pipelines:
          default:
            - stage:
                name: Web
                condition:
                  changesets:
                    includePaths: ['web/**']
                steps:
                  - step:
                      script: [echo web]
        """
    )
    (stage,) = plan.items
    assert isinstance(stage, StageSpec)
    assert stage.changesets == ChangesetRule(include_paths=("web/**",))
    assert stage.steps[0].changesets is None


# ---- scripts -------------------------------------------------------------------------------


def test_script_lines_and_pipes(parse_yaml: ParseYaml) -> None:
    plan = compile_plan(parse_yaml(RICH), Event(custom="release"))
    assert isinstance(plan, Plan)
    step = plan.step("step-1")
    command, pipe = step.script
    assert command == CommandLine("pytest", command.line)
    assert isinstance(pipe, PipeCall)
    assert pipe.pipe == "atlassian/slack-notify:2.0.0"
    assert pipe.variables == (
        ("EXTRA_ARGS", ("-v", "--fast")),
        ("MESSAGE", "done"),
        ("WEBHOOK", "$HOOK"),
    )
    lines = RICH.splitlines()
    assert lines[command.line - 1].strip() == "- pytest"
    assert lines[pipe.line - 1].strip().startswith("- pipe:")
    assert step.after_script == (CommandLine("echo after", step.after_script[0].line),)
    assert lines[step.line - 1].strip() == "name: Test"


# ---- variables -----------------------------------------------------------------------------

VARIABLES = """
pipelines:
  branches:
    main:
      - step:
          script: [echo main]
  custom:
    deploy:
      - variables:
          - name: ENVIRONMENT
            default: staging
            allowed-values: [staging, production]
          - name: VERSION
          - name: REGION
            default: eu-west-1
      - step:
          script: [echo deploy]
    plain:
      - step:
          script: [echo plain]
"""


def test_variable_defaults_apply(plan_for: PlanFor) -> None:
    plan = plan_for(VARIABLES, Event(custom="deploy"))
    assert plan.variables == (("ENVIRONMENT", "staging"), ("VERSION", ""), ("REGION", "eu-west-1"))


def test_given_values_override_defaults(plan_for: PlanFor) -> None:
    event = Event(
        custom="deploy", variables=(("REGION", "us-east-1"), ("ENVIRONMENT", "production"))
    )
    plan = plan_for(VARIABLES, event)
    assert plan.variables == (
        ("ENVIRONMENT", "production"),
        ("VERSION", ""),
        ("REGION", "us-east-1"),
    )


def test_value_outside_allowed_values_is_refused(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(VARIABLES)
    event = Event(custom="deploy", variables=(("ENVIRONMENT", "prod"),))
    with pytest.raises(PlanError, match=r"ENVIRONMENT='prod' is not allowed") as info:
        compile_plan(file, event)
    assert "staging, production" in str(info.value)


def test_unknown_variable_for_a_custom_pipeline_is_refused(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(VARIABLES)
    event = Event(custom="deploy", variables=(("VERSON", "1.2"), ("ZONE", "a")))
    with pytest.raises(PlanError, match=r"does not declare variable\(s\) VERSON, ZONE") as info:
        compile_plan(file, event)
    assert "ENVIRONMENT, REGION, VERSION" in str(info.value)


def test_custom_pipeline_without_declared_variables_passes_given_ones(plan_for: PlanFor) -> None:
    plan = plan_for(VARIABLES, Event(custom="plain", variables=(("B", "2"), ("A", "1"))))
    assert plan.variables == (("B", "2"), ("A", "1"))


def test_push_passes_given_variables_through(plan_for: PlanFor) -> None:
    plan = plan_for(VARIABLES, Event(branch="main", variables=(("DEBUG", "1"),)))
    assert plan.pipeline == "branches.main"
    assert plan.variables == (("DEBUG", "1"),)


def test_resolve_variables_directly(parse_yaml: ParseYaml) -> None:
    declared = parse_yaml(VARIABLES).pipelines.custom["deploy"].variables
    assert resolve_variables(declared, (("VERSION", "2"),), "deploy") == (
        ("ENVIRONMENT", "staging"),
        ("VERSION", "2"),
        ("REGION", "eu-west-1"),
    )
    # Outside a custom run nothing is refused; extra names follow the declared ones.
    assert resolve_variables(declared, (("EXTRA", "x"),), None) == (
        ("ENVIRONMENT", "staging"),
        ("VERSION", ""),
        ("REGION", "eu-west-1"),
        ("EXTRA", "x"),
    )
    assert resolve_variables((), (), None) == ()
