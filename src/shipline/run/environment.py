"""The BITBUCKET_* variables a step sees, as Atlassian documents them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from shipline.plan import Plan, StepSpec


def braced_uuid(value: uuid.UUID | None = None) -> str:
    """Bitbucket writes UUIDs in braces: {xxxxxxxx-...}."""
    return "{" + str(value or uuid.uuid4()) + "}"


@dataclass(frozen=True)
class RunIdentity:
    """Who and what a pipeline run is: the values behind the BITBUCKET_* variables."""

    commit: str
    build_number: int
    repo_slug: str
    workspace: str
    pipeline_uuid: str = field(default_factory=braced_uuid)
    repo_uuid: str = field(default_factory=braced_uuid)
    project_key: str = "SHIPLINE"
    git_http_origin: str = ""


def step_environment(
    plan: Plan, step: StepSpec, identity: RunIdentity, step_uuid: str
) -> dict[str, str]:
    """Variables for one step (BITBUCKET_CLONE_DIR is added by the executor, which knows it)."""
    event = plan.event
    env: dict[str, str] = {
        "CI": "true",
        "BITBUCKET_BUILD_NUMBER": str(identity.build_number),
        "BITBUCKET_COMMIT": identity.commit,
        "BITBUCKET_REPO_SLUG": identity.repo_slug,
        "BITBUCKET_REPO_FULL_NAME": f"{identity.workspace}/{identity.repo_slug}",
        "BITBUCKET_REPO_UUID": identity.repo_uuid,
        "BITBUCKET_REPO_OWNER": identity.workspace,
        "BITBUCKET_REPO_IS_PRIVATE": "true",
        "BITBUCKET_WORKSPACE": identity.workspace,
        "BITBUCKET_PROJECT_KEY": identity.project_key,
        "BITBUCKET_PIPELINE_UUID": identity.pipeline_uuid,
        "BITBUCKET_STEP_UUID": step_uuid,
        "BITBUCKET_STEP_TRIGGERER_UUID": braced_uuid(uuid.UUID(int=0)),
    }
    if identity.git_http_origin:
        env["BITBUCKET_GIT_HTTP_ORIGIN"] = identity.git_http_origin
    branch = event.pull_request.source if event.pull_request else event.branch
    if branch:
        env["BITBUCKET_BRANCH"] = branch
    if event.tag:
        env["BITBUCKET_TAG"] = event.tag
    if event.pull_request:
        env["BITBUCKET_PR_ID"] = event.pull_request.id
        env["BITBUCKET_PR_DESTINATION_BRANCH"] = event.pull_request.destination
    if step.parallel is not None:
        env["BITBUCKET_PARALLEL_STEP"] = str(step.parallel.index)
        env["BITBUCKET_PARALLEL_STEP_COUNT"] = str(step.parallel.count)
    if step.deployment:
        env["BITBUCKET_DEPLOYMENT_ENVIRONMENT"] = step.deployment
        env["BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"] = braced_uuid(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{identity.repo_uuid}/{step.deployment}")
        )
    if step.docker:
        env.setdefault("DOCKER_BUILDKIT", "0")
    return env
