"""The dashboard: every repository with the latest pipeline of each branch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from shipline.server.state import StateDep
from shipline.server.web.queries import latest_per_branch
from shipline.server.web.render import page
from shipline.server.web.session import WebUser
from shipline.store.models import Repository

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, state: StateDep, caller: WebUser) -> HTMLResponse:
    with state.db.session() as session:
        repositories = [
            (repository, latest_per_branch(session, repository.id))
            for repository in session.scalars(select(Repository).order_by(Repository.name))
        ]
    return page(
        request, "dashboard.html", caller, repositories=repositories, base_url=state.settings.url
    )
