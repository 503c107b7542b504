"""Property tests: whatever the input, parsing returns a ParseResult and never raises."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.config import ParseResult, Severity, parse_text
from shipline.config.bitbucket import keywords as kw

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(text: str) -> ParseResult:
    """Parse and check the invariants every result must satisfy."""
    result = parse_text(text)
    assert isinstance(result, ParseResult)
    marks = [d.mark for d in result.diagnostics]
    assert marks == sorted(marks)
    for diag in result.diagnostics:
        assert diag.mark.line >= 1
        assert diag.mark.column >= 1
        assert diag.message
        assert diag.format().startswith(f"{diag.file}:{diag.mark.line}:{diag.mark.column}: ")
        assert diag.to_json()["severity"] == diag.severity.value
    if result.ok:
        assert result.file is not None
    else:
        assert result.file is None or any(d.severity is Severity.ERROR for d in result.diagnostics)
    return result


# ---- (a) arbitrary text ---------------------------------------------------------------------

# Characters YAML gives meaning to, so random text reaches the scanner's interesting paths.
YAML_CHARS = st.sampled_from(list(":-?[]{},#&*!|>'\"%@` \t\n<=~.0123456789abcxyz"))


@FAST
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    check(text)


@FAST
@given(st.lists(YAML_CHARS, max_size=200).map("".join))
def test_yaml_flavoured_text_never_raises(text: str) -> None:
    check(text)


# YAML tokens, tags and anchors: random character soup rarely spells `!!bool` or `&a`.
TOKENS = st.sampled_from(
    [
        *("!!bool ", "!!int ", "!!float ", "!!timestamp ", "!!binary ", "!!str ", "!!null "),
        *(
            "!!set ",
            "!!omap ",
            "!!pairs ",
            "!!map ",
            "!!seq ",
            "!!merge ",
            "!local ",
            "!!python/x ",
        ),
        *("&a ", "&b ", "*a", "*b", "<<: ", "<<", "- ", "? ", ": ", "\n", "  ", "\t"),
        *("{", "}", "[", "]", ", ", "'", '"', "|", ">-", "# c", "~", "---", "...", "%YAML 1.1"),
        *("pipelines", "default", "step", "script", "x", "1", "0x", "2024-02-31", "yes", "."),
    ]
)


@FAST
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_yaml_token_soup_never_raises(text: str) -> None:
    check(text)


# ---- (b) arbitrary YAML-able structures -----------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(),
)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
    ),
    max_leaves=30,
)


@FAST
@given(structures)
def test_dumped_structures_never_raise(data: Any) -> None:
    check(yaml.safe_dump(data))


@FAST
@given(structures)
def test_dumped_structures_under_pipelines_never_raise(data: Any) -> None:
    check(yaml.safe_dump({"pipelines": data, "definitions": data}))


# ---- (c) structurally plausible pipeline documents ------------------------------------------

ALL_KEYS = sorted(
    kw.ROOT_KEYS
    | kw.PIPELINES_KEYS
    | kw.STEP_KEYS
    | set(kw.STEP_KEYS_IGNORED)
    | kw.STAGE_KEYS
    | kw.PARALLEL_KEYS
    | kw.IMAGE_KEYS
    | kw.AWS_KEYS
    | kw.CLONE_KEYS
    | kw.OPTIONS_KEYS
    | kw.SERVICE_KEYS
    | kw.CACHE_KEYS
    | kw.ARTIFACTS_KEYS
    | kw.CONDITION_KEYS
    | kw.CHANGESETS_KEYS
    | kw.VARIABLE_KEYS
    | kw.PIPE_KEYS
    | {"step", "parallel", "stage", "final", "files", "destinations", "scrpt", "<<"}
)
WORDS = st.sampled_from(
    [
        *kw.SIZES,
        *kw.TRIGGERS,
        *kw.PREDEFINED_CACHES,
        "full",
        "postgres",
        "docker",
        "main",
        "python:3.12",
        "echo a: b",
        "",
        "**",
        "-1",
    ]
)
leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 5000), WORDS, st.text(max_size=8))
value = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(ALL_KEYS), inner, max_size=4),
    ),
    max_leaves=12,
)


def keyed(keys: frozenset[str] | set[str], extra: st.SearchStrategy[Any] = value) -> Any:
    """Mappings whose keys come from `keys` (plus a near-miss) with random values."""
    return st.dictionaries(st.sampled_from([*sorted(keys), "scrpt", "nmae"]), extra, max_size=6)


script = st.lists(
    st.one_of(
        WORDS,
        st.text(max_size=10),
        st.fixed_dictionaries({"pipe": WORDS}, optional={"variables": value}),
        value,
    ),
    max_size=4,
)
step_value = st.one_of(
    keyed(kw.STEP_KEYS | set(kw.STEP_KEYS_IGNORED)),
    st.fixed_dictionaries(
        {"script": script}, optional=dict.fromkeys(sorted(kw.STEP_KEYS - {"script"}), value)
    ),
    value,
)
step_item = st.fixed_dictionaries({"step": step_value})
parallel_value = st.one_of(
    st.lists(step_item, max_size=3),
    st.fixed_dictionaries(
        {"steps": st.lists(st.one_of(step_item, value), max_size=3)},
        optional={"fail-fast": value},
    ),
    value,
)
stage_value = st.one_of(
    st.fixed_dictionaries(
        {"steps": st.lists(st.one_of(step_item, value), max_size=3)},
        optional=dict.fromkeys(sorted(kw.STAGE_KEYS - {"steps"}), value),
    ),
    keyed(kw.STAGE_KEYS),
)
variables_value = st.lists(
    st.one_of(keyed(kw.VARIABLE_KEYS, st.one_of(WORDS, st.lists(WORDS, max_size=3))), value),
    max_size=3,
)
pipeline_item = st.one_of(
    step_item,
    st.fixed_dictionaries({"parallel": parallel_value}),
    st.fixed_dictionaries({"stage": stage_value}),
    st.fixed_dictionaries({"variables": variables_value}),
    st.fixed_dictionaries({"final": step_value}),
    value,
)
pipeline = st.one_of(st.lists(pipeline_item, max_size=4), value)
named = st.dictionaries(st.one_of(WORDS, st.text(max_size=6)), pipeline, max_size=3)
pull_requests = st.dictionaries(
    WORDS,
    st.one_of(pipeline, st.fixed_dictionaries({"destinations": named})),
    max_size=2,
)
pipelines = st.fixed_dictionaries(
    {},
    optional={
        "default": pipeline,
        "branches": named,
        "tags": named,
        "bookmarks": named,
        "custom": named,
        "pull-requests": pull_requests,
        "pipeline": value,
    },
)
image = st.one_of(WORDS, keyed(kw.IMAGE_KEYS), value)
definitions = st.fixed_dictionaries(
    {},
    optional={
        "services": st.dictionaries(WORDS, st.one_of(keyed(kw.SERVICE_KEYS), value), max_size=6),
        "caches": st.dictionaries(
            WORDS,
            st.one_of(WORDS, keyed(kw.CACHE_KEYS, st.one_of(WORDS, keyed({"files"}))), value),
            max_size=3,
        ),
        "steps": st.lists(step_item, max_size=2),
    },
)
documents = st.fixed_dictionaries(
    {"pipelines": pipelines},
    optional={
        "image": image,
        "clone": st.one_of(keyed(kw.CLONE_KEYS), value),
        "options": st.one_of(keyed(kw.OPTIONS_KEYS), value),
        "definitions": definitions,
        "triggers": value,
        "x-extra": value,
    },
)


@FAST
@given(documents)
def test_plausible_pipeline_documents_never_raise(document: dict[str, Any]) -> None:
    check(yaml.safe_dump(document, sort_keys=False))


@FAST
@given(documents, st.data())
def test_shared_nodes_become_aliases_and_never_raise(
    document: dict[str, Any], data: st.DataObject
) -> None:
    # safe_dump writes an object referenced twice as &anchor / *alias, so reusing one step
    # dict (or the whole pipelines section) exercises alias expansion through the parser.
    shared = data.draw(step_item)
    document.setdefault("definitions", {})["steps"] = [shared]
    default = document["pipelines"].get("default")
    if isinstance(default, list):
        default.append(shared)
    else:
        document["pipelines"]["default"] = [shared, shared]
    document["pipelines"]["branches"] = {"main": document["pipelines"]["default"]}
    text = yaml.safe_dump(document, sort_keys=False)
    assert "&id" in text
    check(text)


# ---- (d) random edits of a valid file ------------------------------------------------------

VALID = """\
image: python:3.12
definitions:
  caches:
    wheels: {key: {files: [req.txt]}, path: .wheels}
  services:
    db: {image: postgres:16, variables: {A: b}}
  steps:
    - step: &build
        name: Build
        caches: [wheels, pip]
        services: [db]
        script:
          - make
          - pipe: acme/deploy:1
            variables: {ENV: test}
        artifacts: {download: false, paths: [dist/**]}
pipelines:
  default:
    - step: *build
    - parallel:
        fail-fast: true
        steps:
          - step: {<<: *build, name: Other}
    - stage:
        deployment: staging
        steps:
          - step: {script: [./deploy]}
  custom:
    go:
      - variables:
          - {name: V, default: a, allowed-values: [a, b]}
      - step: *build
"""


def test_the_valid_seed_document_is_clean() -> None:
    result = check(VALID)
    assert result.ok
    assert result.diagnostics == ()


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(VALID)),
            st.integers(0, 3),
            st.text(YAML_CHARS, max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_edits_of_a_valid_file_never_raise(edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for position, delete, insert in edits:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + delete :]
    check(text)
