"""Choosing the pipeline for an event with Bitbucket's precedence, and saying why."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipline.config import PipelineFile, parse_text
from shipline.errors import PlanError
from shipline.plan import CommandLine, Event, NoPipeline, Plan, PullRequest, compile_plan
from shipline.plan.select import Selection, select_pipeline

ParseYaml = Callable[[str], PipelineFile]
PlanFor = Callable[..., Plan]
NothingFor = Callable[[str, Event], NoPipeline]


def _section(name: str, patterns: list[str], indent: int = 2) -> str:
    """A pipelines section whose every pipeline echoes the pattern it was written under."""
    pad = " " * indent
    lines = [f"{pad}{name}:"]
    for pattern in patterns:
        lines += [
            f"{pad}  '{pattern}':",
            f"{pad}    - step:",
            f"{pad}        script:",
            f"{pad}          - 'echo {pattern.strip()}'",
        ]
    return "\n".join(lines) + "\n"


DEFAULT = """\
  default:
    - step:
        script:
          - echo default
"""

# The order matters: patterns that should win are often written after the ones they beat.
BRANCHES = [
    "**",
    "*",
    "main",
    " staging ",
    "feature/**",
    "feature/*",
    "feature/bb-*",
    "feature/bb-123-*",
    "feature/bb-123-fix-links",
    "release/*",
    "release/[0-9]*",
    "release/{1.x,2.x}",
    "hotfix/*",
    "hotfix/?",
    "*/feature",
    "{fix/*,bugfix/*}",
    "{feature/*,fix/*,dev/*}",
    "dev/pagespeed",
    "**/docs",
]
TAGS = [
    "v*",
    "v1.*",
    "v1.2.3",
    "release-{alpha,beta}",
    "[0-9]*",
    "*-rc",
]
PRECEDENCE_YAML = "pipelines:\n" + DEFAULT + _section("branches", BRANCHES) + _section("tags", TAGS)

EXACT = "exact"
FEATURE_ALL = "{feature/*,fix/*,dev/*}"

# (branch, winning pattern or EXACT, every other matching pattern in file order)
BRANCH_ROWS: list[tuple[str, str, list[str]]] = [
    ("main", EXACT, []),
    ("staging", EXACT, []),
    ("develop", "*", ["**"]),
    ("Main", "*", ["**"]),
    ("main2", "*", ["**"]),
    ("feature", "*", ["**"]),
    ("hotfix", "*", ["**"]),
    ("mainline/x", "**", []),
    ("staging/x", "**", []),
    ("feature/x", "feature/*", ["**", "feature/**", FEATURE_ALL]),
    ("feature/a/b", "feature/**", ["**"]),
    ("feature/bb-7", "feature/bb-*", ["**", "feature/**", "feature/*", FEATURE_ALL]),
    ("feature/bb-12", "feature/bb-*", ["**", "feature/**", "feature/*", FEATURE_ALL]),
    (
        "feature/bb-123-x",
        "feature/bb-123-*",
        ["**", "feature/**", "feature/*", "feature/bb-*", FEATURE_ALL],
    ),
    (
        "feature/bb-123-fix-link",
        "feature/bb-123-*",
        ["**", "feature/**", "feature/*", "feature/bb-*", FEATURE_ALL],
    ),
    ("feature/bb-123-fix-links", EXACT, []),
    ("feature/bb-123-fix-links/sub", "feature/**", ["**"]),
    # equally specific: the one written first wins
    ("feature/feature", "feature/*", ["**", "feature/**", "*/feature", FEATURE_ALL]),
    ("x/feature", "*/feature", ["**"]),
    ("a/b/feature", "**", []),
    ("release/1.x", "release/{1.x,2.x}", ["**", "release/*", "release/[0-9]*"]),
    ("release/2.x", "release/{1.x,2.x}", ["**", "release/*", "release/[0-9]*"]),
    ("release/3.x", "release/[0-9]*", ["**", "release/*"]),
    ("release/next", "release/*", ["**"]),
    ("release/1.x/patch", "**", []),
    ("hotfix/1", "hotfix/?", ["**", "hotfix/*"]),
    ("hotfix/12", "hotfix/*", ["**"]),
    ("fix/x", "{fix/*,bugfix/*}", ["**", FEATURE_ALL]),
    ("bugfix/y", "{fix/*,bugfix/*}", ["**"]),
    ("dev/pagespeed", EXACT, []),
    ("dev/other", FEATURE_ALL, ["**"]),
    ("docs", "**/docs", ["**", "*"]),
    ("team/docs", "**/docs", ["**"]),
    ("a/b/docs", "**/docs", ["**"]),
]

# (tag, winning pattern, EXACT or None for no pipeline, every other matching pattern)
TAG_ROWS: list[tuple[str, str | None, list[str]]] = [
    ("v1.2.3", EXACT, []),
    ("v1.9", "v1.*", ["v*"]),
    ("v1.2.3-hotfix", "v1.*", ["v*"]),
    ("v2.0", "v*", []),
    ("v", "v*", []),
    ("release-alpha", "release-{alpha,beta}", []),
    ("release-beta", "release-{alpha,beta}", []),
    ("2024.01", "[0-9]*", []),
    ("1.0-rc", "*-rc", ["[0-9]*"]),
    ("v3-rc", "*-rc", ["v*"]),
    ("release-gamma", None, []),
    ("nightly", None, []),
    ("v1/x", None, []),
    ("V1.0", None, []),
    ("main", None, []),
]


@pytest.fixture(scope="module")
def precedence_file() -> PipelineFile:
    result = parse_text(PRECEDENCE_YAML)
    assert result.ok, result.diagnostics
    assert result.file is not None
    return result.file


def _assert_pattern_reason(reason: str, what: str, name: str, winner: str, also: list[str]) -> None:
    assert f"{what} '{name}'" in reason
    assert f"pattern '{winner}'" in reason
    assert "most specific" in reason
    if also:
        assert reason.endswith("also matched " + ", ".join(repr(p) for p in also))
    else:
        assert "also matched" not in reason


def _script_of(plan: Plan) -> str:
    entry = next(plan.steps()).script[0]
    assert isinstance(entry, CommandLine)
    return entry.text


@pytest.mark.parametrize(("branch", "winner", "also"), BRANCH_ROWS)
def test_branch_precedence(
    precedence_file: PipelineFile, branch: str, winner: str, also: list[str]
) -> None:
    plan = compile_plan(precedence_file, Event(branch=branch))
    assert isinstance(plan, Plan)
    pattern = branch if winner == EXACT else winner
    assert plan.pipeline == f"branches.{pattern}"
    assert _script_of(plan) == f"echo {pattern}"
    if winner == EXACT:
        assert plan.reason == (
            f"branch '{branch}' has its own pipeline (an exact name beats every pattern)"
        )
    else:
        _assert_pattern_reason(plan.reason, "branch", branch, winner, also)


@pytest.mark.parametrize(("tag", "winner", "also"), TAG_ROWS)
def test_tag_precedence(
    precedence_file: PipelineFile, tag: str, winner: str | None, also: list[str]
) -> None:
    outcome = compile_plan(precedence_file, Event(tag=tag))
    if winner is None:
        # Tags never fall back to 'default', even though this file has one.
        assert isinstance(outcome, NoPipeline)
        assert outcome.reason == f"no pipeline under 'tags' matches tag '{tag}'"
        assert outcome.event == Event(tag=tag)
        return
    assert isinstance(outcome, Plan)
    pattern = tag if winner == EXACT else winner
    assert outcome.pipeline == f"tags.{pattern}"
    assert _script_of(outcome) == f"echo {pattern}"
    if winner == EXACT:
        assert "exact name beats every pattern" in outcome.reason
        assert f"tag '{tag}'" in outcome.reason
    else:
        _assert_pattern_reason(outcome.reason, "tag", tag, winner, also)


def test_the_table_file_keeps_every_pattern(precedence_file: PipelineFile) -> None:
    assert list(precedence_file.pipelines.branches) == [p.strip() for p in BRANCHES]
    assert list(precedence_file.pipelines.tags) == TAGS


@pytest.mark.parametrize("order", [["main", "'*'", "'**'"], ["'**'", "'*'", "main"]])
def test_exact_name_wins_wherever_it_is_written(plan_for: PlanFor, order: list[str]) -> None:
    sections = "".join(
        f"    {name}:\n      - step:\n          script: [echo x]\n" for name in order
    )
    plan = plan_for("pipelines:\n  branches:\n" + sections, Event(branch="main"))
    assert plan.pipeline == "branches.main"
    assert "exact name" in plan.reason


@pytest.mark.parametrize(
    ("first", "second"),
    [("feature/*", "*/feature"), ("*/feature", "feature/*")],
)
def test_tie_goes_to_the_pattern_written_first(plan_for: PlanFor, first: str, second: str) -> None:
    text = f"""
    pipelines:
      branches:
        '{first}':
          - step:
              script: [echo one]
        '{second}':
          - step:
              script: [echo two]
    """
    plan = plan_for(text, Event(branch="feature/feature"))
    assert plan.pipeline == f"branches.{first}"
    assert plan.reason.endswith(f"also matched '{second}'")


@pytest.mark.parametrize(
    ("key", "branch"),
    [("' main '", "main"), ("'main '", "main"), ("' feature/* '", "feature/x")],
)
def test_quoted_names_with_spaces_are_the_same_name(
    plan_for: PlanFor, key: str, branch: str
) -> None:
    text = f"""
    pipelines:
      default:
        - step:
            script: [echo default]
      branches:
        {key}:
          - step:
              script: [echo quoted]
    """
    plan = plan_for(text, Event(branch=branch))
    assert plan.pipeline == f"branches.{key.strip(chr(39)).strip()}"


BRANCHES_WITH_DEFAULT = """
pipelines:
  default:
    - step:
        script: [echo default]
  branches:
    main:
      - step:
          script: [echo main]
    'feature/*':
      - step:
          script: [echo feature]
  tags:
    'v*':
      - step:
          script: [echo release]
"""


@pytest.mark.parametrize("branch", ["develop", "feature/a/b", "mainx", "Main"])
def test_unmatched_branch_runs_default(plan_for: PlanFor, branch: str) -> None:
    plan = plan_for(BRANCHES_WITH_DEFAULT, Event(branch=branch))
    assert plan.pipeline == "default"
    assert plan.reason == f"no branch pipeline matches branch '{branch}', so 'default' runs"


def test_a_push_without_branch_or_tag_runs_default(plan_for: PlanFor) -> None:
    plan = plan_for(BRANCHES_WITH_DEFAULT, Event())
    assert plan.pipeline == "default"
    assert plan.reason == "no branch pipeline matches this push, so 'default' runs"


def test_default_only_file_runs_default_for_any_branch(plan_for: PlanFor) -> None:
    text = """
    pipelines:
      default:
        - step:
            script: [echo default]
    """
    assert plan_for(text, Event(branch="anything/at/all")).pipeline == "default"


@pytest.mark.parametrize("tag", ["1.0", "release", "x/v1"])
def test_unmatched_tag_never_falls_back_to_default(nothing_for: NothingFor, tag: str) -> None:
    outcome = nothing_for(BRANCHES_WITH_DEFAULT, Event(tag=tag))
    assert outcome.reason == f"no pipeline under 'tags' matches tag '{tag}'"


def test_tag_without_tags_section_never_runs_default(nothing_for: NothingFor) -> None:
    text = """
    pipelines:
      default:
        - step:
            script: [echo default]
    """
    outcome = nothing_for(text, Event(tag="v1.0"))
    assert outcome.reason == "no pipeline under 'tags' matches tag 'v1.0'"


def test_tag_wins_over_branch_on_the_same_event(plan_for: PlanFor) -> None:
    plan = plan_for(BRANCHES_WITH_DEFAULT, Event(branch="main", tag="v2"))
    assert plan.pipeline == "tags.v*"


def test_unmatched_branch_without_default_runs_nothing(nothing_for: NothingFor) -> None:
    text = """
    pipelines:
      branches:
        main:
          - step:
              script: [echo main]
    """
    outcome = nothing_for(text, Event(branch="develop"))
    assert outcome.reason == (
        "no pipeline matches branch 'develop' and there is no 'default' pipeline"
    )
    assert nothing_for(text, Event()).reason == (
        "no pipeline matches a push and there is no 'default' pipeline"
    )


# ---- pull requests -------------------------------------------------------------------------

PULL_REQUESTS = """
pipelines:
  default:
    - step:
        script: [echo default]
  branches:
    '**':
      - step:
          script: [echo branches]
  pull-requests:
    '**':
      - step:
          script: [echo any-pr]
    'feature/*':
      - step:
          script: [echo feature-pr]
    hotfix/urgent:
      - step:
          script: [echo urgent-pr]
    'release/*':
      destinations:
        main:
          - step:
              script: [echo release-to-main]
        'develop*':
          - step:
              script: [echo release-to-develop]
        'dev*':
          - step:
              script: [echo release-to-dev]
"""


def _pr(source: str, destination: str) -> Event:
    return Event(pull_request=PullRequest("42", source, destination), branch=source)


@pytest.mark.parametrize(
    ("source", "destination", "key"),
    [
        ("feature/login", "main", "pull-requests.feature/*"),
        ("feature/login", "develop", "pull-requests.feature/*"),
        ("feature/a/b", "main", "pull-requests.**"),
        ("bugfix", "main", "pull-requests.**"),
        ("hotfix/urgent", "main", "pull-requests.hotfix/urgent"),
        ("release/1.0", "main", "pull-requests.release/*.destinations.main"),
        ("release/1.0", "develop", "pull-requests.release/*.destinations.develop*"),
        ("release/1.0", "develop-next", "pull-requests.release/*.destinations.develop*"),
        ("release/1.0", "dev", "pull-requests.release/*.destinations.dev*"),
        ("release/1.0", "devops", "pull-requests.release/*.destinations.dev*"),
    ],
)
def test_pull_requests_select_by_source_then_destination(
    plan_for: PlanFor, source: str, destination: str, key: str
) -> None:
    plan = plan_for(PULL_REQUESTS, _pr(source, destination))
    assert plan.pipeline == key
    assert plan.reason.startswith(f"pull request from '{source}' matches '")


def test_pull_request_reason_lists_other_source_patterns(plan_for: PlanFor) -> None:
    plan = plan_for(PULL_REQUESTS, _pr("feature/login", "main"))
    assert plan.reason == "pull request from 'feature/login' matches 'feature/*'; also matched '**'"


def test_pull_request_reason_explains_the_destination(plan_for: PlanFor) -> None:
    plan = plan_for(PULL_REQUESTS, _pr("release/1.0", "develop"))
    assert plan.reason == (
        "pull request from 'release/1.0' matches 'release/*'; also matched '**'; "
        "destination branch 'develop' matches pattern 'develop*', the most specific one; "
        "also matched 'dev*'"
    )
    exact = plan_for(PULL_REQUESTS, _pr("release/1.0", "main"))
    assert exact.reason.endswith(
        "destination branch 'main' has its own pipeline (an exact name beats every pattern)"
    )


def test_pull_request_with_unmatched_destination_runs_nothing(nothing_for: NothingFor) -> None:
    outcome = nothing_for(PULL_REQUESTS, _pr("release/1.0", "staging"))
    assert outcome.reason == (
        "pull request from 'release/1.0' matches 'release/*'; also matched '**', "
        "but none of its destinations matches 'staging'"
    )


def test_pull_request_with_unmatched_source_runs_nothing(nothing_for: NothingFor) -> None:
    text = """
    pipelines:
      default:
        - step:
            script: [echo default]
      branches:
        '**':
          - step:
              script: [echo branches]
      pull-requests:
        'feature/*':
          - step:
              script: [echo feature-pr]
    """
    outcome = nothing_for(text, _pr("bugfix/x", "main"))
    assert outcome.reason == "no pipeline under 'pull-requests' matches source branch 'bugfix/x'"


def test_pull_request_without_pull_request_section_runs_nothing(nothing_for: NothingFor) -> None:
    outcome = nothing_for(BRANCHES_WITH_DEFAULT, _pr("main", "develop"))
    assert "pull-requests" in outcome.reason


def test_pull_request_source_exact_name_and_quoted_key(plan_for: PlanFor) -> None:
    text = """
    pipelines:
      pull-requests:
        '**':
          - step:
              script: [echo any]
        ' feature/login ':
          - step:
              script: [echo exact]
    """
    plan = plan_for(text, _pr("feature/login", "main"))
    assert plan.pipeline == "pull-requests.feature/login"


# ---- custom pipelines ----------------------------------------------------------------------

CUSTOM = """
pipelines:
  default:
    - step:
        script: [echo default]
  custom:
    deploy-prod:
      - step:
          script: [echo deploy]
    nightly:
      - step:
          script: [echo nightly]
"""


def test_custom_pipeline_by_name(plan_for: PlanFor) -> None:
    plan = plan_for(CUSTOM, Event(custom="deploy-prod", branch="main"))
    assert plan.pipeline == "custom.deploy-prod"
    assert plan.reason == "custom pipeline 'deploy-prod' was requested by name"


def test_unknown_custom_pipeline_suggests_the_closest_name(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(CUSTOM)
    with pytest.raises(PlanError, match=r"no custom pipeline named 'deploy-prd'") as info:
        compile_plan(file, Event(custom="deploy-prd"))
    assert "did you mean 'deploy-prod'?" in str(info.value)


def test_unknown_custom_pipeline_lists_the_available_ones(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(CUSTOM)
    with pytest.raises(PlanError, match=r"available: deploy-prod, nightly"):
        compile_plan(file, Event(custom="zzz"))


def test_unknown_custom_pipeline_when_none_are_defined(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(BRANCHES_WITH_DEFAULT)
    with pytest.raises(PlanError, match=r"none defined"):
        compile_plan(file, Event(custom="deploy"))


def test_custom_names_are_not_patterns(parse_yaml: ParseYaml) -> None:
    text = """
    pipelines:
      custom:
        'deploy-*':
          - step:
              script: [echo deploy]
    """
    with pytest.raises(PlanError):
        compile_plan(parse_yaml(text), Event(custom="deploy-prod"))


# ---- [skip ci] -----------------------------------------------------------------------------

SKIPPABLE = """
pipelines:
  default:
    - step:
        script: [echo default]
  branches:
    main:
      - step:
          script: [echo main]
  tags:
    'v*':
      - step:
          script: [echo tag]
  pull-requests:
    '**':
      - step:
          script: [echo pr]
  custom:
    deploy:
      - step:
          script: [echo deploy]
"""


@pytest.mark.parametrize(
    "event",
    [
        Event(branch="main", commit_message="docs [skip ci]"),
        Event(branch="develop", commit_message="[CI SKIP] wip"),
        Event(tag="v1.0", commit_message="release [Skip CI]"),
        Event(commit_message="[skip ci]"),
    ],
)
def test_skip_ci_skips_push_pipelines(nothing_for: NothingFor, event: Event) -> None:
    outcome = nothing_for(SKIPPABLE, event)
    assert outcome.reason == "the commit message contains [skip ci] or [ci skip]"
    assert outcome.event is event


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (Event(custom="deploy", branch="main", commit_message="[skip ci]"), "custom.deploy"),
        (
            Event(
                pull_request=PullRequest("1", "feature/x", "main"),
                branch="feature/x",
                commit_message="[ci skip]",
            ),
            "pull-requests.**",
        ),
        (Event(branch="main", commit_message="skip ci"), "branches.main"),
    ],
)
def test_skip_ci_does_not_skip_custom_or_pull_request_runs(
    plan_for: PlanFor, event: Event, key: str
) -> None:
    assert plan_for(SKIPPABLE, event).pipeline == key


# ---- select_pipeline directly --------------------------------------------------------------


def test_select_pipeline_returns_the_parsed_pipeline(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(BRANCHES_WITH_DEFAULT)
    selected = select_pipeline(file.pipelines, Event(branch="feature/x"))
    assert isinstance(selected, Selection)
    assert selected.key == "branches.feature/*"
    assert selected.pipeline is file.pipelines.branches["feature/*"]


def test_select_pipeline_returns_a_sentence_when_nothing_runs(parse_yaml: ParseYaml) -> None:
    file = parse_yaml(BRANCHES_WITH_DEFAULT)
    assert isinstance(select_pipeline(file.pipelines, Event(tag="nope")), str)
