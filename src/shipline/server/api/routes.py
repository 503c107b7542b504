"""The /api/v1 routes of this slice: health, the caller, repositories."""

from __future__ import annotations

import sys

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipline import __version__
from shipline.run.git import git
from shipline.server.api.schemas import Health, Me, RepositoryCreate, RepositoryOut
from shipline.server.auth import Developer, Viewer
from shipline.server.hook import hook_script
from shipline.server.state import ServerState, StateDep
from shipline.store.models import Repository

router = APIRouter(prefix="/api/v1")


def _out(state: ServerState, repository: Repository) -> RepositoryOut:
    return RepositoryOut(
        name=repository.name,
        created_at=repository.created_at,
        clone_url=f"{state.settings.url}/git/{repository.name}.git",
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


@router.post("/repos", status_code=status.HTTP_201_CREATED, tags=["repositories"])
def create_repo(body: RepositoryCreate, state: StateDep, _: Developer) -> RepositoryOut:
    """Create a repository; push to its `clone_url` with any user name and a token."""
    path = state.settings.repos_dir / f"{body.name}.git"
    try:
        with state.db.session() as session:
            repository = Repository(name=body.name)
            session.add(repository)
            session.flush()
            state.settings.repos_dir.mkdir(parents=True, exist_ok=True)
            git(["init", "-q", "--bare", "--initial-branch=main", str(path)], path.parent)
            git(["config", "http.receivepack", "true"], path)
            hook = path / "hooks" / "post-receive"
            hook.write_text(hook_script(sys.executable))
            hook.chmod(0o755)
            return _out(state, repository)
    except IntegrityError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"repository '{body.name}' already exists"
        ) from exc
