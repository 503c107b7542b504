"""Where Shipline tells things: notification targets (Apprise URLs), commit status targets
(forge APIs), the story tracker's webhook. Admins set them; their secrets (tokens, URLs that
carry tokens) are encrypted at rest and never returned."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from shipline.server.auth import Admin, Developer
from shipline.server.commit_status import (
    FORGE_NAMES,
    CommitStatusError,
    StatusState,
    StatusTarget,
    status_request,
)
from shipline.server.lookups import find_repository
from shipline.server.notify import DEFAULT_KINDS, NotificationError, parse_kinds, validate_url
from shipline.server.state import StateDep
from shipline.store.models import NotificationTarget, Repository, StatusTargetRow

router = APIRouter(prefix="/api/v1", tags=["integrations"])


class NotificationIn(BaseModel):
    name: str = Field(description='How people call it, e.g. "team slack".')
    url: str = Field(description="An Apprise URL: slack://…, mmost://…, mailto://…, json://…")
    kinds: list[str] = Field(
        default_factory=lambda: sorted(str(kind) for kind in DEFAULT_KINDS),
        description="pipeline.failed, pipeline.fixed, pipeline.succeeded, deployment.started, "
        "deployment.succeeded, deployment.failed",
    )


class NotificationOut(BaseModel):
    id: int
    name: str
    scheme: str = Field(description="The URL's scheme only: the rest may hold a token.")
    kinds: list[str]
    last_error: str


@router.get("/repos/{repo}/notifications")
def list_notifications(repo: str, state: StateDep, _: Developer) -> list[NotificationOut]:
    with state.db.session() as session:
        rows = session.scalars(
            select(NotificationTarget).where(
                NotificationTarget.repository_id == find_repository(session, repo).id
            )
        ).all()
        return [
            NotificationOut(
                id=row.id,
                name=row.name,
                scheme=urlsplit(state.box.decrypt(row.url)).scheme,
                kinds=row.kinds.split(","),
                last_error=row.last_error,
            )
            for row in rows
        ]


@router.post("/repos/{repo}/notifications", status_code=status.HTTP_201_CREATED)
def add_notification(repo: str, body: NotificationIn, state: StateDep, _: Admin) -> NotificationOut:
    try:
        validate_url(body.url)
        kinds = parse_kinds(body.kinds)
    except NotificationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    with state.db.session() as session:
        row = NotificationTarget(
            repository_id=find_repository(session, repo).id,
            name=body.name,
            url=state.box.encrypt(body.url),
            kinds=",".join(sorted(kinds)),
        )
        session.add(row)
        session.flush()
        return NotificationOut(
            id=row.id, name=row.name, scheme=urlsplit(body.url).scheme,
            kinds=sorted(kinds), last_error="",
        )  # fmt: skip


@router.delete("/repos/{repo}/notifications/{target}", status_code=204)
def remove_notification(repo: str, target: int, state: StateDep, _: Admin) -> Response:
    with state.db.session() as session:
        gone = session.execute(
            delete(NotificationTarget).where(
                NotificationTarget.id == target,
                NotificationTarget.repository_id == find_repository(session, repo).id,
            )
        )
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no notification target #{target}")
    return Response(status_code=204)


class StatusTargetIn(BaseModel):
    forge: str = Field(description=f"One of {', '.join(FORGE_NAMES)}.")
    project: str = Field(description="owner/repo (GitHub, Gitea), workspace/slug (Bitbucket), "
                         "group/project or its id (GitLab)")  # fmt: skip
    token: str
    base_url: str | None = Field(None, description="For self-hosted forges: the API's base URL.")
    context: str = "shipline"


class StatusTargetOut(BaseModel):
    id: int
    forge: str
    project: str
    base_url: str | None
    context: str
    last_error: str


@router.get("/repos/{repo}/commit-statuses")
def list_status_targets(repo: str, state: StateDep, _: Developer) -> list[StatusTargetOut]:
    with state.db.session() as session:
        rows = session.scalars(
            select(StatusTargetRow).where(
                StatusTargetRow.repository_id == find_repository(session, repo).id
            )
        ).all()
        return [
            StatusTargetOut(
                id=r.id,
                forge=r.forge,
                project=r.project,
                base_url=r.base_url,
                context=r.context,
                last_error=r.last_error,
            )
            for r in rows
        ]


@router.post("/repos/{repo}/commit-statuses", status_code=status.HTTP_201_CREATED)
def add_status_target(
    repo: str, body: StatusTargetIn, state: StateDep, _: Admin
) -> StatusTargetOut:
    """Report this repository's pipelines to a forge's commit status API."""
    target = StatusTarget(body.forge, body.project, body.token, body.base_url, body.context)
    try:  # the same checks a real report makes, on a made-up commit
        status_request(target, "0" * 40, StatusState.PENDING, "http://shipline.invalid/", "")
    except CommitStatusError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    with state.db.session() as session:
        row = StatusTargetRow(
            repository_id=find_repository(session, repo).id, forge=body.forge, project=body.project,
            base_url=body.base_url, token=state.box.encrypt(body.token), context=body.context,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return StatusTargetOut(
            id=row.id,
            forge=row.forge,
            project=row.project,
            base_url=row.base_url,
            context=row.context,
            last_error="",
        )


@router.delete("/repos/{repo}/commit-statuses/{target}", status_code=204)
def remove_status_target(repo: str, target: int, state: StateDep, _: Admin) -> Response:
    with state.db.session() as session:
        gone = session.execute(
            delete(StatusTargetRow).where(
                StatusTargetRow.id == target,
                StatusTargetRow.repository_id == find_repository(session, repo).id,
            )
        )
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no commit status target #{target}")
    return Response(status_code=204)


class TrackerIn(BaseModel):
    url: str = Field(description="Receives a JSON POST of the stories each deployment shipped.")
    environments: list[str] = Field(default_factory=lambda: ["production"])


@router.put("/repos/{repo}/tracker", status_code=204)
def set_tracker(repo: str, body: TrackerIn, state: StateDep, _: Admin) -> Response:
    """Post the stories a successful deployment to these environments delivered."""
    if urlsplit(body.url).scheme not in ("http", "https"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the tracker URL is http(s)")
    with state.db.session() as session:
        repository = session.get(Repository, find_repository(session, repo).id)
        assert repository is not None
        config = {"url": body.url, "environments": body.environments}
        repository.tracker_webhook = state.box.encrypt(json.dumps(config))
    return Response(status_code=204)


@router.delete("/repos/{repo}/tracker", status_code=204)
def remove_tracker(repo: str, state: StateDep, _: Admin) -> Response:
    with state.db.session() as session:
        repository = session.get(Repository, find_repository(session, repo).id)
        assert repository is not None
        repository.tracker_webhook = None
    return Response(status_code=204)
