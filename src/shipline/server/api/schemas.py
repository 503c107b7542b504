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


class RepositoryOut(BaseModel):
    name: str
    created_at: dt.datetime
    clone_url: str


class StepOut(BaseModel):
    key: str
    number: int
    name: str
    status: str
    reason: str
    exit_code: int | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class PipelineOut(BaseModel):
    repo: str
    number: int
    status: str
    trigger: str
    ref_type: str
    ref_name: str
    commit: str
    pipeline: str
    reason: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    steps: list[StepOut]
