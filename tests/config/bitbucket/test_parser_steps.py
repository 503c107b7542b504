"""Step-level parsing: step keys, scripts and pipes, references, parallel, stage and final."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipline.config import Diagnostic, Mark, ParseResult, PipelineFile, Severity
from shipline.config.bitbucket import keywords as kw
from shipline.config.bitbucket.model import (
    Artifacts,
    Changesets,
    Clone,
    Command,
    Condition,
    Image,
    Parallel,
    Pipe,
    Stage,
    Step,
)

Parse = Callable[[str], ParseResult]
ParseOk = Callable[[str], PipelineFile]
FindDiag = Callable[[ParseResult, str], Diagnostic]
StepDoc = Callable[[str], str]

SERVICES = """\
definitions:
  services:
    postgres: {image: postgres:16}
    redis: {image: redis:7}
    mysql: {image: mysql:8}
    mongo: {image: mongo:7}
    rabbit: {image: rabbitmq:3}
  caches:
    wheels: .wheels
"""


def only_step(parsed: PipelineFile) -> Step:
    default = parsed.pipelines.default
    assert default is not None
    [item] = default.items
    assert isinstance(item, Step)
    return item


def where(diag: Diagnostic) -> tuple[int, int, str, Severity]:
    return diag.mark.line, diag.mark.column, diag.path, diag.severity


P = "pipelines.default[0].step"  # path of the step that step_doc builds


# ---- a step with every key --------------------------------------------------------------------


def test_step_with_every_documented_key(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    text = SERVICES + step_doc(
        """
        name: Build and test
        image: python:3.12
        script:
          - pip install -r requirements.txt
          - pytest
        after-script:
          - echo done
        services: [postgres, docker]
        caches: [pip, wheels]
        artifacts: [dist/**, reports/*.xml]
        deployment: staging
        trigger: manual
        size: 2x
        max-time: 15
        clone: {depth: 1, lfs: false}
        condition:
          changesets:
            includePaths: [src/**, setup.py]
        runs-on: [self.hosted, linux]
        oidc: true
        fail-fast: false
        """
    )
    step = only_step(parse_ok(text))
    base = len(SERVICES.splitlines())  # step_doc's line 4 comes after SERVICES
    line = base + 4
    assert step == Step(
        mark=Mark(line, 9),
        name="Build and test",
        image=Image("python:3.12", Mark(line + 1, 16)),
        script=(
            Command("pip install -r requirements.txt", Mark(line + 3, 13)),
            Command("pytest", Mark(line + 4, 13)),
        ),
        after_script=(Command("echo done", Mark(line + 6, 13)),),
        services=(("postgres", Mark(line + 7, 20)), ("docker", Mark(line + 7, 30))),
        caches=(("pip", Mark(line + 8, 18)), ("wheels", Mark(line + 8, 23))),
        artifacts=Artifacts(("dist/**", "reports/*.xml")),
        deployment="staging",
        trigger="manual",
        size="2x",
        max_time=15,
        clone=Clone(depth=1, lfs=False),
        condition=Condition(Changesets(include_paths=("src/**", "setup.py"))),
        runs_on=("self.hosted", "linux"),
        oidc=True,
        fail_fast=False,
    )


def test_step_defaults(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(parse_ok(step_doc("script: [make]")))
    assert step.name is None
    assert step.image is None
    assert step.after_script == ()
    assert step.services == ()
    assert step.caches == ()
    assert step.artifacts == Artifacts((), download=True)
    assert step.deployment is None
    assert step.trigger == "automatic"
    assert step.size is None
    assert step.max_time is None
    assert step.clone is None
    assert step.condition is None
    assert step.runs_on == ()
    assert step.oidc is False
    assert step.fail_fast is None


def test_step_image_object_and_runs_on_string(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(
            step_doc(
                """
                image:
                  name: private/app:2
                  username: $U
                  password: $P
                runs-on: self.hosted
                script: [make]
                """
            )
        )
    )
    assert step.image == Image("private/app:2", Mark(5, 11), "$U", "$P")
    assert step.runs_on == ("self.hosted",)


# ---- unknown and ignored keys -----------------------------------------------------------------


def test_misspelt_step_key_is_an_error_with_did_you_mean(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(step_doc("name: x\nscrpt:\n  - make\n"))
    typo = find_diag(result, "unknown key 'scrpt' in a step")
    assert where(typo) == (5, 9, f"{P}.scrpt", Severity.ERROR)
    assert typo.hint == "did you mean 'script'?"
    assert typo.format() == (
        "bitbucket-pipelines.yml:5:9: error: unknown key 'scrpt' in a step "
        "(at pipelines.default[0].step.scrpt)\n  hint: did you mean 'script'?"
    )
    missing = find_diag(result, "a step needs a 'script'")
    assert where(missing) == (4, 9, P, Severity.ERROR)


def test_unrelated_unknown_step_key_lists_allowed_keys(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    diag = find_diag(parse(step_doc("script: [x]\nzzz: 1\n")), "unknown key 'zzz' in a step")
    assert diag.hint == "allowed: " + ", ".join(sorted(kw.STEP_KEYS))


@pytest.mark.parametrize("key", sorted(kw.STEP_KEYS_IGNORED))
def test_documented_but_ignored_step_keys_warn(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc, key: str
) -> None:
    result = parse(step_doc(f"script: [make]\n{key}: whatever\n"))
    assert result.ok
    diag = find_diag(result, f"'{key}' is ignored by Shipline")
    assert where(diag) == (5, 9, f"{P}.{key}", Severity.WARNING)
    assert diag.message.endswith(kw.STEP_KEYS_IGNORED[key])


def test_step_must_be_a_mapping(parse: Parse, find_diag: FindDiag) -> None:
    result = parse("pipelines:\n  default:\n    - step: make\n")
    diag = find_diag(result, "a step must be a mapping, found 'make'")
    assert where(diag) == (3, 13, P, Severity.ERROR)
    assert result.file is not None
    assert result.file.pipelines.default is None


# ---- scripts and pipes ------------------------------------------------------------------------


def test_script_items_keep_their_text_as_written(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(
            step_doc(
                """
                script:
                  - 010
                  - true
                  - 1.50
                  - 'echo "a: b"'
                  - |
                    if true; then
                      echo multi
                    fi
                  - echo $HOME # comment
                """
            )
        )
    )
    assert [item.text for item in step.script if isinstance(item, Command)] == [
        "010",
        "true",
        "1.50",
        'echo "a: b"',
        "if true; then\n  echo multi\nfi\n",
        "echo $HOME",
    ]


def test_command_with_colon_space_gets_the_quote_hint(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(step_doc('script:\n  - echo "starting"\n  - echo Result: done\n'))
    diag = find_diag(result, "this command was read as a mapping because it contains ': '")
    assert where(diag) == (6, 13, f"{P}.script[1]", Severity.ERROR)
    assert diag.hint == "quote the whole command, e.g. - 'echo Result: ...'"
    assert result.file is not None
    step = only_step(result.file)
    # The good command is still there, the bad one dropped.
    assert [item.text for item in step.script if isinstance(item, Command)] == ['echo "starting"']


def test_bad_script_items(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(step_doc("script:\n  - make\n  -\n  - [a, b]\n"))
    assert where(find_diag(result, "empty command in script")) == (
        6, 12, f"{P}.script[1]", Severity.ERROR,
    )  # fmt: skip
    assert where(find_diag(result, "a command must be text, found a list")) == (
        7, 13, f"{P}.script[2]", Severity.ERROR,
    )  # fmt: skip


def test_script_must_be_a_list(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(step_doc("script: make test\n"))
    diag = find_diag(result, "script must be a list, found 'make test'")
    assert where(diag) == (4, 17, f"{P}.script", Severity.ERROR)
    assert diag.hint == "start each entry on its own line with '- '"


def test_empty_script(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(step_doc("script: []\n"))
    assert where(find_diag(result, "a step's script is empty")) == (
        4, 17, f"{P}.script", Severity.ERROR,
    )  # fmt: skip


def test_empty_pipe_name_is_an_error(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    # The step used to vanish without a diagnostic, leaving a file with no pipeline.
    result = parse(step_doc("script:\n  - pipe: ''\n"))
    diag = find_diag(result, "pipe must not be empty")
    assert where(diag) == (5, 19, f"{P}.script[0].pipe", Severity.ERROR)
    assert not result.ok


def test_pipes_with_variables(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(
            step_doc(
                """
                script:
                  - echo before
                  - pipe: atlassian/aws-s3-deploy:1.1.0
                    variables:
                      AWS_DEFAULT_REGION: us-east-1
                      S3_BUCKET: $BUCKET
                      DEBUG: true
                      RETRIES: 3
                      EMPTY:
                      EXTRA_ARGS: ['--delete', '--acl', 'private']
                  - pipe: docker://acme/pipe:latest
                """
            )
        )
    )
    before, pipe, bare = step.script
    assert before == Command("echo before", Mark(5, 13))
    assert pipe == Pipe(
        "atlassian/aws-s3-deploy:1.1.0",
        Mark(6, 13),
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "S3_BUCKET": "$BUCKET",
            "DEBUG": "true",
            "RETRIES": "3",
            "EMPTY": "",
            "EXTRA_ARGS": ("--delete", "--acl", "private"),
        },
    )
    assert bare == Pipe("docker://acme/pipe:latest", Mark(14, 13))


def test_pipe_errors(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(
        step_doc(
            """
            script:
              - pipe: acme/p:1
                variable: {A: 1}
              - pipe: acme/q:1
                variables: {NESTED: {a: b}}
              - pipe: [not, text]
              - pipe: acme/r:1
                variables: A=1
              - pipe: acme/s:1
                variables: {ARGS: [ok, [nested]]}
            """
        )
    )
    typo = find_diag(result, "unknown key 'variable' in a pipe")
    assert where(typo) == (6, 13, f"{P}.script[0].variable", Severity.ERROR)
    assert typo.hint == "did you mean 'variables'?"
    nested = find_diag(result, "pipe variables must be text")
    assert where(nested) == (8, 33, f"{P}.script[1].variables.NESTED", Severity.ERROR)
    assert find_diag(result, "pipe must be text, found a list").path == f"{P}.script[2].pipe"
    assert find_diag(result, "pipe variables must be a mapping, found 'A=1'").path == (
        f"{P}.script[3].variables"
    )
    item = find_diag(result, "pipe variable must be text, found a list")
    assert item.path == f"{P}.script[4].variables.ARGS[1]"


def test_after_script(
    parse: Parse, parse_ok: ParseOk, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    step = only_step(parse_ok(step_doc("script: [make]\nafter-script:\n  - pipe: a/b:1\n  - ls\n")))
    assert [type(item) for item in step.after_script] == [Pipe, Command]
    result = parse(step_doc("script: [make]\nafter-script: ls\n"))
    assert find_diag(result, "after-script must be a list").path == f"{P}.after-script"


# ---- services and caches ----------------------------------------------------------------------


def test_unknown_service_with_did_you_mean(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(SERVICES + step_doc("script: [x]\nservices:\n  - postgress\n  - elastic\n"))
    line = len(SERVICES.splitlines()) + 6
    typo = find_diag(result, "unknown service 'postgress'")
    assert where(typo) == (line, 13, f"{P}.services[0]", Severity.ERROR)
    assert typo.hint == "did you mean 'postgres'?"
    other = find_diag(result, "unknown service 'elastic'")
    assert other.hint == "define it under 'definitions: services:'"
    assert result.file is not None
    assert only_step(result.file).services == ()


def test_more_than_five_services(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    names = "[postgres, redis, mysql, mongo, rabbit, docker]"
    result = parse(SERVICES + step_doc(f"script: [x]\nservices: {names}\n"))
    diag = find_diag(result, "a step can use at most 5 services, found 6")
    line = len(SERVICES.splitlines()) + 5
    assert where(diag) == (line, 19, f"{P}.services", Severity.ERROR)
    assert kw.MAX_SERVICES == 5


def test_five_services_are_fine(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(
            SERVICES + step_doc("script: [x]\nservices: [postgres, redis, mysql, mongo, docker]")
        )
    )
    assert [name for name, _ in step.services] == ["postgres", "redis", "mysql", "mongo", "docker"]


def test_unknown_cache_with_did_you_mean(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(step_doc("script: [x]\ncaches:\n  - nod\n  - node\n  - gradel\n"))
    typo = find_diag(result, "unknown cache 'nod'")
    assert where(typo) == (6, 13, f"{P}.caches[0]", Severity.ERROR)
    assert typo.hint == "did you mean 'node'?"
    assert find_diag(result, "unknown cache 'gradel'").hint == "did you mean 'gradle'?"
    assert result.file is not None
    assert [name for name, _ in only_step(result.file).caches] == ["node"]


@pytest.mark.parametrize("name", sorted(kw.PREDEFINED_CACHES))
def test_every_predefined_cache_is_known(parse_ok: ParseOk, step_doc: StepDoc, name: str) -> None:
    step = only_step(parse_ok(step_doc(f"script: [x]\ncaches: [{name}]\n")))
    assert step.caches == ((name, Mark(5, 18)),)


def test_references_must_be_a_list_of_names(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(step_doc("script: [x]\nservices: docker\ncaches: [{node: x}]\n"))
    assert find_diag(result, "services must be a list, found 'docker'").path == f"{P}.services"
    assert find_diag(result, "cache name must be text, found a mapping").path == f"{P}.caches[0]"


# ---- artifacts --------------------------------------------------------------------------------


def test_artifacts_object_form(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(step_doc("script: [x]\nartifacts:\n  download: false\n  paths: [out/**]\n"))
    )
    assert step.artifacts == Artifacts(("out/**",), download=False)


def test_artifacts_named_download_and_upload_warn(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(
        step_doc(
            """
            script: [x]
            artifacts:
              download: [build-output]
              upload:
                - name: build-output
                  paths: [dist/**]
            """
        )
    )
    assert result.ok
    download = find_diag(result, "downloading artifacts by name is not supported")
    assert where(download) == (6, 21, f"{P}.artifacts.download", Severity.WARNING)
    upload = find_diag(result, "named artifact uploads are not supported yet; use 'paths'")
    assert where(upload) == (7, 11, f"{P}.artifacts.upload", Severity.WARNING)
    assert result.file is not None
    assert only_step(result.file).artifacts == Artifacts((), download=True)


def test_artifacts_errors(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(step_doc("script: [x]\nartifacts:\n  path: [a]\n  download: nope\n"))
    typo = find_diag(result, "unknown key 'path' in artifacts")
    assert typo.hint == "did you mean 'paths'?"
    assert find_diag(result, "download must be true or false, found 'nope'").mark == Mark(7, 21)
    result = parse(step_doc("script: [x]\nartifacts: dist\n"))
    assert find_diag(result, "artifacts must be a mapping, found 'dist'").path == f"{P}.artifacts"


# ---- scalar step keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        ("trigger: manually", "trigger 'manually' is not allowed", "did you mean 'manual'?"),
        ("trigger: later", "trigger 'later' is not allowed", "allowed: automatic, manual"),
        ("size: 3x", "size '3x' is not allowed", ""),
        ("max-time: 0", "max-time (minutes) must be a whole number of at least 1, found '0'", ""),
        ("max-time: 1.5", "max-time (minutes) must be a whole number of at least 1", ""),
        ("max-time: true", "max-time (minutes) must be a whole number of at least 1", ""),
        ("oidc: yes please", "oidc must be true or false, found 'yes please'", ""),
        ("fail-fast: 1", "fail-fast must be true or false, found '1'", ""),
        ("deployment: [a]", "deployment environment must be text, found a list", ""),
        ("name: {a: b}", "step name must be text, found a mapping", ""),
        ("runs-on: [[a]]", "runs-on label must be text, found a list", ""),
        ("clone: {depth: -1}", "clone depth must be a whole number of at least 1", ""),
    ],
)
def test_step_value_errors(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc, line: str, message: str, hint: str
) -> None:
    result = parse(step_doc(f"script: [make]\n{line}\n"))
    diag = find_diag(result, message)
    assert diag.severity is Severity.ERROR
    assert diag.mark.line == 5
    key = line.split(":", 1)[0]
    assert diag.path.startswith(f"{P}.{key}")
    if hint:
        assert diag.hint == hint
    # A bad value never drops the whole step.
    assert result.file is not None
    assert only_step(result.file).script == (Command("make", Mark(4, 18)),)


def test_integers_in_text_fields_keep_their_spelling(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(parse_ok(step_doc("name: 007\ndeployment: 1e3\nscript: [x]\n")))
    assert step.name == "007"
    assert step.deployment == "1e3"


# ---- condition --------------------------------------------------------------------------------


def test_condition_exclude_paths(parse_ok: ParseOk, step_doc: StepDoc) -> None:
    step = only_step(
        parse_ok(step_doc("script: [x]\ncondition:\n  changesets:\n    excludePaths: [docs/**]\n"))
    )
    assert step.condition == Condition(Changesets(exclude_paths=("docs/**",)))


def test_condition_errors_and_state_warning(
    parse: Parse, find_diag: FindDiag, step_doc: StepDoc
) -> None:
    result = parse(
        step_doc(
            """
            script: [x]
            condition:
              changesets:
                includePaths: [a]
                excludePaths: [b]
                includepaths: [c]
              state: "BITBUCKET_BRANCH == 'main'"
              when: always
            """
        )
    )
    both = find_diag(result, "use either includePaths or excludePaths, not both")
    assert where(both) == (7, 13, f"{P}.condition.changesets", Severity.ERROR)
    typo = find_diag(result, "unknown key 'includepaths' in changesets")
    assert typo.hint == "did you mean 'includePaths'?"
    state = find_diag(result, "condition 'state' expressions are not evaluated yet")
    assert where(state) == (10, 18, f"{P}.condition.state", Severity.WARNING)
    assert find_diag(result, "unknown key 'when' in condition").severity is Severity.ERROR
    assert result.file is not None
    condition = only_step(result.file).condition
    assert condition is not None
    assert condition.state == "BITBUCKET_BRANCH == 'main'"


def test_condition_shape_errors(parse: Parse, find_diag: FindDiag, step_doc: StepDoc) -> None:
    result = parse(step_doc("script: [x]\ncondition: [a]\n"))
    assert find_diag(result, "condition must be a mapping").path == f"{P}.condition"
    result = parse(step_doc("script: [x]\ncondition: {changesets: {includePaths: src}}\n"))
    diag = find_diag(result, "path must be a list, found 'src'")
    assert diag.path == f"{P}.condition.changesets.includePaths"


# ---- parallel ---------------------------------------------------------------------------------


def test_parallel_list_form(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          default:
            - parallel:
                - step: {name: a, script: [a]}
                - step: {name: b, script: [b]}
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    [group] = default.items
    assert isinstance(group, Parallel)
    assert group.mark == Mark(4, 9)
    assert group.fail_fast is False
    assert [step.name for step in group.steps] == ["a", "b"]


def test_parallel_object_form_with_fail_fast(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          default:
            - parallel:
                fail-fast: true
                steps:
                  - step: {name: a, script: [a], fail-fast: false}
                  - step: {name: b, script: [b]}
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    [group] = default.items
    assert isinstance(group, Parallel)
    assert group.fail_fast is True
    assert [step.fail_fast for step in group.steps] == [False, None]


def test_parallel_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - parallel:
                fail-fats: true
                steps:
                  - step: {script: [a]}
                  - parallel:
                      - step: {script: [b]}
                  - make
            - parallel:
                fail-fast: true
            - parallel: {steps: [{step: {script: [x]}, name: y}]}
        """
    )
    typo = find_diag(result, "unknown key 'fail-fats' in 'parallel'")
    assert where(typo) == (4, 9, "pipelines.default[0].parallel.fail-fats", Severity.ERROR)
    assert typo.hint == "did you mean 'fail-fast'?"
    nested = [d for d in result.diagnostics if d.message == "a parallel holds only '- step:' items"]
    assert [(d.mark, d.path, d.hint) for d in nested] == [
        (
            Mark(7, 13),
            "pipelines.default[0].parallel.steps[1]",
            "nested parallel groups and stages are not allowed",
        ),
        (
            Mark(12, 26),
            "pipelines.default[2].parallel.steps[0]",
            "nested parallel groups and stages are not allowed",
        ),
    ]
    item = find_diag(result, "an item must be a mapping, found 'make'")
    assert item.path == "pipelines.default[0].parallel.steps[2]"
    missing = find_diag(result, "'parallel' needs 'steps'")
    assert where(missing) == (11, 9, "pipelines.default[1].parallel", Severity.ERROR)
    assert result.file is not None
    default = result.file.pipelines.default
    assert default is not None
    [group] = default.items  # only the first group has a valid step left
    assert isinstance(group, Parallel)
    assert len(group.steps) == 1


def test_empty_parallel_and_stage_are_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - parallel: []
            - parallel: {steps: []}
            - stage: {name: s, steps: []}
            - step: {script: [x]}
        """
    )
    groups = [d for d in result.diagnostics if d.message == "a parallel needs at least one step"]
    assert [(d.mark, d.path) for d in groups] == [
        (Mark(3, 17), "pipelines.default[0].parallel"),
        (Mark(4, 25), "pipelines.default[1].parallel.steps"),
    ]
    stage = find_diag(result, "a stage needs at least one step")
    assert where(stage) == (5, 31, "pipelines.default[2].stage.steps", Severity.ERROR)


def test_parallel_fail_fast_must_be_boolean(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        "pipelines:\n  default:\n    - parallel:\n        fail-fast: sometimes\n"
        "        steps:\n          - step: {script: [a]}\n"
    )
    diag = find_diag(result, "fail-fast must be true or false, found 'sometimes'")
    assert where(diag) == (4, 20, "pipelines.default[0].parallel.fail-fast", Severity.ERROR)


# ---- stages -----------------------------------------------------------------------------------


def test_stage_with_every_key(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        """
        pipelines:
          default:
            - stage:
                name: Deploy to staging
                deployment: staging
                trigger: manual
                condition:
                  changesets:
                    includePaths: [deploy/**]
                steps:
                  - step: {name: Migrate, script: [./migrate]}
                  - step: {name: Release, script: [./release]}
        """
    )
    default = parsed.pipelines.default
    assert default is not None
    [stage] = default.items
    assert isinstance(stage, Stage)
    assert stage.mark == Mark(4, 9)
    assert stage.name == "Deploy to staging"
    assert stage.deployment == "staging"
    assert stage.trigger == "manual"
    assert stage.condition == Condition(Changesets(include_paths=("deploy/**",)))
    assert [step.name for step in stage.steps] == ["Migrate", "Release"]


def test_step_inside_a_deployment_stage_cannot_deploy(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - stage:
                deployment: production
                steps:
                  - step: {script: [a]}
                  - step:
                      deployment: production
                      condition: {changesets: {includePaths: [x]}}
                      script: [b]
        """
    )
    own = find_diag(result, "a step inside a deployment stage cannot set its own 'deployment'")
    assert where(own) == (8, 15, "pipelines.default[0].stage", Severity.ERROR)
    assert own.hint == "remove 'deployment' from the step; the stage's environment applies"
    condition = find_diag(result, "steps inside a stage cannot have a 'condition'")
    assert condition.hint == "put the condition on the stage"


def test_step_deployment_in_a_plain_stage_is_allowed(parse_ok: ParseOk) -> None:
    parsed = parse_ok(
        "pipelines:\n  default:\n    - stage:\n        steps:\n"
        "          - step: {deployment: test, script: [a]}\n"
    )
    default = parsed.pipelines.default
    assert default is not None
    [stage] = default.items
    assert isinstance(stage, Stage)
    assert stage.deployment is None
    assert stage.steps[0].deployment == "test"


def test_stage_errors(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - stage:
                nmae: x
                steps:
                  - step: {script: [a]}
            - stage:
                name: empty
            - stage: just-text
            - stage:
                steps:
                  - stage: {steps: []}
        """
    )
    typo = find_diag(result, "unknown key 'nmae' in a stage")
    assert where(typo) == (4, 9, "pipelines.default[0].stage.nmae", Severity.ERROR)
    assert typo.hint == "did you mean 'name'?"
    missing = find_diag(result, "a stage needs 'steps'")
    assert where(missing) == (8, 9, "pipelines.default[1].stage", Severity.ERROR)
    assert find_diag(result, "a stage must be a mapping, found 'just-text'").mark == Mark(9, 14)
    nested = find_diag(result, "a stage holds only '- step:' items")
    assert nested.path == "pipelines.default[3].stage.steps[0]"


# ---- final ------------------------------------------------------------------------------------


def test_final_step_must_be_last(parse: Parse, find_diag: FindDiag) -> None:
    result = parse(
        """
        pipelines:
          default:
            - final:
                script: [cleanup]
            - step: {script: [make]}
        """
    )
    diag = find_diag(result, "'final' must be the last item of a pipeline")
    assert where(diag) == (3, 7, "pipelines.default[0].final", Severity.ERROR)


def test_pipeline_of_only_a_final_step(parse_ok: ParseOk) -> None:
    parsed = parse_ok("pipelines:\n  default:\n    - final: {name: f, script: [x]}\n")
    default = parsed.pipelines.default
    assert default is not None
    assert default.items == ()
    assert default.final is not None
    assert default.final.name == "f"
