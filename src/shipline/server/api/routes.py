"""The /api/v1 routes for the server itself and its repositories."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipline import __version__
from shipline.run.git import git
from shipline.server.api.schemas import Health, Me, RepositoryCreate, RepositoryOut
from shipline.server.auth import Admin, Developer, Viewer
from shipline.server.forges import FORGES
from shipline.server.hook import install_hook
from shipline.server.lookups import find_repository
from shipline.server.state import ServerState, StateDep
from shipline.store.models import Repository

router = APIRouter(prefix="/api/v1")


def _out(state: ServerState, repository: Repository, secret: str | None = None) -> RepositoryOut:
    base = state.settings.url
    return RepositoryOut(
        name=repository.name,
        created_at=repository.created_at,
        clone_url=f"{base}/git/{repository.name}.git",
        remote_url=repository.remote_url,
        webhook_urls={forge: f"{base}/hooks/{forge}/{repository.name}" for forge in FORGES},
        webhook_secret=secret,
    )


@router.get("/health", tags=["server"])
def health() -> Health:
    """Unauthenticated liveness check."""
    return Health(status="ok", version=__version__)


@router.get("/me", tags=["server"])
def me(caller: Viewer) -> Me:
    return Me(name=caller.name, role=caller.role.value)


@router.get("/repos", tags=["repositories"])
def list_repos(state: StateDep, _: Viewer) -> list[RepositoryOut]:
    with state.db.session() as session:
        repositories = session.scalars(select(Repository).order_by(Repository.name)).all()
        return [_out(state, r) for r in repositories]


@router.get("/repos/{repo}", tags=["repositories"])
def get_repo(repo: str, state: StateDep, _: Viewer) -> RepositoryOut:
    with state.db.session() as session:
        return _out(state, find_repository(session, repo))


@router.post("/repos", status_code=status.HTTP_201_CREATED, tags=["repositories"])
def create_repo(body: RepositoryCreate, state: StateDep, _: Developer) -> RepositoryOut:
    """Create a repository; push to its `clone_url` with any user name and a token.

    The answer carries the repository's webhook secret, this once.
    """
    path = state.repo_dir(body.name)
    secret = secrets.token_urlsafe(24)
    try:
        with state.db.session() as session:
            repository = Repository(
                name=body.name, remote_url=body.remote_url, webhook_secret=state.box.encrypt(secret)
            )
            session.add(repository)
            session.flush()
            state.settings.repos_dir.mkdir(parents=True, exist_ok=True)
            git(["init", "-q", "--bare", "--initial-branch=main", str(path)], path.parent)
            git(["config", "http.receivepack", "true"], path)
            install_hook(path)
            return _out(state, repository, secret)
    except IntegrityError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"repository '{body.name}' already exists"
        ) from exc


class RepositoryChange(BaseModel):
    remote_url: str | None = Field(None, description="Mirror this URL; null: mirror nothing.")


@router.patch("/repos/{repo}", tags=["repositories"])
def change_repo(repo: str, body: RepositoryChange, state: StateDep, _: Admin) -> RepositoryOut:
    with state.db.session() as session:
        repository = find_repository(session, repo)
        repository.remote_url = body.remote_url
        session.flush()
        return _out(state, repository)


@router.post("/repos/{repo}/webhook-secret", tags=["repositories"])
def renew_webhook_secret(repo: str, state: StateDep, _: Admin) -> RepositoryOut:
    """Make a new webhook secret (shown in this answer only); the old one stops working."""
    secret = secrets.token_urlsafe(24)
    with state.db.session() as session:
        repository = find_repository(session, repo)
        repository.webhook_secret = state.box.encrypt(secret)
        session.flush()
        return _out(state, repository, secret)
