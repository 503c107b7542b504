"""Request and response bodies of the REST API (they make the OpenAPI document)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

REPO_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class Health(BaseModel):
    status: str
    version: str


class Me(BaseModel):
    name: str
    role: str


class RepositoryCreate(BaseModel):
    name: str = Field(pattern=REPO_NAME_PATTERN, description="lowercase letters, digits, . _ -")
    remote_url: str | None = Field(
        None,
        description="Mirror a repository hosted elsewhere (GitHub, GitLab…): webhooks fetch "
        "pushed commits from this URL. A webhook secret is made and returned once.",
    )


class RepositoryOut(BaseModel):
    name: str
    created_at: dt.datetime
    clone_url: str
    remote_url: str | None = None
    webhook_urls: dict[str, str] = Field(default_factory=dict)
    webhook_secret: str | None = Field(
        None, description="Only in the answer that creates (or renews) it."
    )


class StepOut(BaseModel):
    key: str
    number: int
    name: str
    status: str
    reason: str
    exit_code: int | None
    attempt: int
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    approved_by: str | None = Field(None, description="Who ran this manual step.")
    approved_at: dt.datetime | None = None
    artifact_count: int = 0


class PipelineOut(BaseModel):
    repo: str
    number: int
    status: str
    trigger: str
    triggered_by: str
    ref_type: str
    ref_name: str
    commit: str
    pipeline: str
    reason: str = Field(description="Why this pipeline was chosen for the event.")
    stop_requested: bool
    rerun_of: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    url: str
    steps: list[StepOut]


class TriggerRequest(BaseModel):
    """Start a pipeline by hand: the branch's (or tag's) newest commit unless `commit`."""

    branch: str | None = None
    tag: str | None = None
    commit: str | None = Field(None, description="A commit on that branch or tag.")
    custom: str | None = Field(None, description="Run this custom pipeline (`custom:` key).")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Variables of a custom pipeline."
    )


class RerunRequest(BaseModel):
    all: bool = Field(
        False,
        description="false: run the failed, stopped and never-run steps of this pipeline "
        "again; true: start a new pipeline for the same commit and event.",
    )


class VariableIn(BaseModel):
    value: str
    secured: bool = False


class VariableOut(BaseModel):
    name: str
    secured: bool
    value: str | None = Field(None, description="Never given for a secured variable.")
    updated_at: dt.datetime


class DeploymentOut(BaseModel):
    id: int
    environment: str
    status: str = Field(
        description="waiting (for the environment), queued, running, passed, failed, "
        "cancelled, superseded, refused (older than what runs there), held (after a rollback)"
    )
    kind: str = Field(description="deploy, redeploy or rollback")
    commit: str
    pipeline: int = Field(description="The build number of the pipeline that deploys.")
    step: str = Field(description="The deployment step's name.")
    step_key: str
    stage: str | None
    triggered_by: str
    reason: str
    source: int | None = Field(None, description="The deployment a redeploy repeats.")
    stories: list[dict[str, object]] = Field(default_factory=list)
    artifacts: list[str] = Field(
        default_factory=list,
        description="Files from earlier steps it deployed (PIPELINE:STEP/path); only when one "
        "deployment is asked for.",
    )
    queued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class EnvironmentOut(BaseModel):
    name: str
    kind: str = Field(description="test, staging or production")
    supersede: bool
    rolled_back_commit: str | None
    current: DeploymentOut | None = Field(description="What it runs now.")
    waiting: list[DeploymentOut] = Field(description="In the order they will run.")
    history: list[DeploymentOut] = Field(default_factory=list, description="Newest first.")


class EnvironmentChange(BaseModel):
    supersede: bool | None = None


class RollbackRequest(BaseModel):
    to: int | None = Field(
        None, description="A deployment id; default: the last successful one before now."
    )


class CommitOut(BaseModel):
    sha: str
    author: str
    date: dt.datetime
    subject: str


class Comparison(BaseModel):
    source: str
    target: str
    source_commit: str | None
    target_commit: str | None
    commits: list[CommitOut] = Field(
        description="What the target would gain from the source, newest first."
    )
