"""The BITBUCKET_* variables a step gets, per event and step kind."""

from __future__ import annotations

import re
import uuid

from shipline.plan import CommandLine, Event, ParallelPosition, Plan, PullRequest, StepSpec
from shipline.run.environment import RunIdentity, braced_uuid, step_environment

BRACED = re.compile(r"^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$")
SHA = "0123456789abcdef0123456789abcdef01234567"
STEP = StepSpec(id="step-1", number=1, name="Build", script=(CommandLine("true", 1),))


def plan_for(event: Event) -> Plan:
    return Plan("default", "test", event, (STEP,))


def identity(**kwargs: str) -> RunIdentity:
    return RunIdentity(commit=SHA, build_number=7, repo_slug="app", workspace="team", **kwargs)


def test_braced_uuid() -> None:
    assert BRACED.match(braced_uuid())
    assert braced_uuid(uuid.UUID(int=1)) == "{00000000-0000-0000-0000-000000000001}"
    assert braced_uuid() != braced_uuid()


def test_branch_push_variables_exactly() -> None:
    ident = identity()
    env = step_environment(plan_for(Event(branch="main")), STEP, ident, "{step}")
    assert env == {
        "CI": "true",
        "BITBUCKET_BUILD_NUMBER": "7",
        "BITBUCKET_COMMIT": SHA,
        "BITBUCKET_REPO_SLUG": "app",
        "BITBUCKET_REPO_FULL_NAME": "team/app",
        "BITBUCKET_REPO_UUID": ident.repo_uuid,
        "BITBUCKET_REPO_OWNER": "team",
        "BITBUCKET_REPO_IS_PRIVATE": "true",
        "BITBUCKET_WORKSPACE": "team",
        "BITBUCKET_PROJECT_KEY": "SHIPLINE",
        "BITBUCKET_PIPELINE_UUID": ident.pipeline_uuid,
        "BITBUCKET_STEP_UUID": "{step}",
        "BITBUCKET_STEP_TRIGGERER_UUID": "{00000000-0000-0000-0000-000000000000}",
        "BITBUCKET_BRANCH": "main",
    }
    assert BRACED.match(ident.pipeline_uuid)
    assert BRACED.match(ident.repo_uuid)


def test_tag_run_has_a_tag_and_no_branch() -> None:
    env = step_environment(plan_for(Event(tag="v1.0")), STEP, identity(), "{s}")
    assert env["BITBUCKET_TAG"] == "v1.0"
    assert "BITBUCKET_BRANCH" not in env
    assert "BITBUCKET_PR_ID" not in env


def test_pull_request_variables() -> None:
    event = Event(pull_request=PullRequest("12", "feature/login", "main"))
    env = step_environment(plan_for(event), STEP, identity(), "{s}")
    assert env["BITBUCKET_BRANCH"] == "feature/login"
    assert env["BITBUCKET_PR_ID"] == "12"
    assert env["BITBUCKET_PR_DESTINATION_BRANCH"] == "main"


def test_custom_run_on_a_branch() -> None:
    env = step_environment(plan_for(Event(branch="dev", custom="deploy")), STEP, identity(), "{s}")
    assert env["BITBUCKET_BRANCH"] == "dev"


def test_parallel_step_variables() -> None:
    step = StepSpec(id="step-3", number=3, name="T", script=(), parallel=ParallelPosition(2, 1, 3))
    env = step_environment(plan_for(Event(branch="main")), step, identity(), "{s}")
    assert (env["BITBUCKET_PARALLEL_STEP"], env["BITBUCKET_PARALLEL_STEP_COUNT"]) == ("1", "3")
    plain = step_environment(plan_for(Event(branch="main")), STEP, identity(), "{s}")
    assert "BITBUCKET_PARALLEL_STEP" not in plain


def test_deployment_variables() -> None:
    ident = identity()
    step = StepSpec(id="step-2", number=2, name="Deploy", script=(), deployment="staging")
    env = step_environment(plan_for(Event(branch="main")), step, ident, "{s}")
    assert env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] == "staging"
    env_uuid = env["BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"]
    assert BRACED.match(env_uuid)
    # the same environment of the same repository keeps its uuid across runs and steps
    again = step_environment(plan_for(Event(branch="x")), step, ident, "{other}")
    assert again["BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"] == env_uuid
    prod = StepSpec(id="step-3", number=3, name="Prod", script=(), deployment="production")
    other = step_environment(plan_for(Event(branch="main")), prod, ident, "{s}")
    assert other["BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"] != env_uuid


def test_docker_steps_get_classic_builds_and_origin_is_optional() -> None:
    step = StepSpec(id="step-1", number=1, name="D", script=(), docker=True)
    ident = identity(git_http_origin="http://bitbucket.org/team/app")
    env = step_environment(plan_for(Event(branch="main")), step, ident, "{s}")
    assert env["DOCKER_BUILDKIT"] == "0"
    assert env["BITBUCKET_GIT_HTTP_ORIGIN"] == "http://bitbucket.org/team/app"
    assert "BITBUCKET_GIT_HTTP_ORIGIN" not in step_environment(
        plan_for(Event(branch="main")), STEP, identity(), "{s}"
    )
