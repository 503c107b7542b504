"""Settings in the browser: a repository's variables (secured ones write-only), deployment
variables, webhooks and their secret, notifications, commit statuses; the server's members
and roles; your own API tokens and password. Every form is CSRF-checked."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import delete, select

from shipline.errors import ShiplineError
from shipline.server.commit_status import StatusState, StatusTarget, status_request
from shipline.server.deploys import environment
from shipline.server.forges import FORGES
from shipline.server.lookups import find_repository
from shipline.server.notify import parse_kinds, validate_url
from shipline.server.state import ServerState, StateDep
from shipline.server.users import (
    create_user,
    delete_user,
    issue_user_token,
    list_tokens,
    list_users,
    revoke_token,
    set_password,
    set_role,
)
from shipline.server.web.render import page
from shipline.server.web.session import Csrf, WebUser
from shipline.store.models import (
    Environment,
    NotificationTarget,
    Role,
    StatusTargetRow,
    User,
)

router = APIRouter(include_in_schema=False)
KINDS = (
    "pipeline.failed",
    "pipeline.fixed",
    "pipeline.succeeded",
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
)


def _admin(caller: Any) -> None:
    if not caller.role.allows(Role.ADMIN):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "settings are for admins")


def _done(url: str, flash: str = "", error: bool = False) -> RedirectResponse:
    if flash:
        url += (
            ("&" if "?" in url else "?") + f"flash={quote(flash)}" + ("&error=1" if error else "")
        )
    return RedirectResponse(url, status_code=303)


def _delete_target(
    state: ServerState,
    caller: Any,
    repo: str,
    model: type[NotificationTarget] | type[StatusTargetRow],
    target: int,
    what: str,
) -> RedirectResponse:
    """Remove one of the repository's notification or commit status targets."""
    _admin(caller)
    with state.db.session() as session:
        session.execute(
            delete(model).where(
                model.id == target, model.repository_id == find_repository(session, repo).id
            )
        )
    return _done(f"/r/{repo}/settings", f"removed the {what}")


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


@router.get("/r/{repo}/settings", response_class=HTMLResponse)
def repo_settings(request: Request, repo: str, state: StateDep, caller: WebUser) -> HTMLResponse:
    _admin(caller)
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        variables = state.variables.of_repository(session, repo_row.id)
        environments = session.scalars(
            select(Environment)
            .where(Environment.repository_id == repo_row.id)
            .order_by(Environment.position)
        ).all()
        env_vars = [(env, state.variables.of_environment(session, env.id)) for env in environments]
        notifications = [
            (row, urlsplit(state.box.decrypt(row.url)).scheme)
            for row in session.scalars(
                select(NotificationTarget).where(NotificationTarget.repository_id == repo_row.id)
            )
        ]
        statuses = session.scalars(
            select(StatusTargetRow).where(StatusTargetRow.repository_id == repo_row.id)
        ).all()
        remote = repo_row.remote_url
    base = state.settings.url
    hooks = {forge: f"{base}/hooks/{forge}/{repo}" for forge in FORGES}
    return page(
        request,
        "settings_repo.html",
        caller,
        repo=repo,
        tab="settings",
        variables=variables,
        env_vars=env_vars,
        notifications=notifications,
        statuses=statuses,
        hooks=hooks,
        remote=remote,
        kinds=KINDS,
        secret=request.query_params.get("secret"),
        flash=request.query_params.get("flash"),
        flash_kind="error" if request.query_params.get("error") else "",
    )


@router.post("/r/{repo}/settings/variables", dependencies=[Csrf])
async def set_variable(
    request: Request, repo: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    back = f"/r/{repo}/settings"
    try:
        with state.db.session() as session:
            repo_row = find_repository(session, repo)
            secured = form.get("secured") == "on"
            if form.get("environment"):
                env = environment(session, repo_row.id, form["environment"])
                state.variables.set_for_environment(
                    session, env.id, form["name"], form["value"], secured
                )
            else:
                state.variables.set(session, repo_row.id, form["name"], form["value"], secured)
    except ShiplineError as exc:
        return _done(back, str(exc), error=True)
    return _done(back, f"saved {form['name']}")


@router.post("/r/{repo}/settings/variables/delete", dependencies=[Csrf])
async def delete_variable(
    request: Request, repo: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    with state.db.session() as session:
        repo_row = find_repository(session, repo)
        if form.get("environment"):
            env = environment(session, repo_row.id, form["environment"])
            state.variables.delete_for_environment(session, env.id, form["name"])
        else:
            state.variables.delete(session, repo_row.id, form["name"])
    return _done(f"/r/{repo}/settings", f"deleted {form['name']}")


@router.post("/r/{repo}/settings/webhook-secret", dependencies=[Csrf])
def renew_secret(repo: str, state: StateDep, caller: WebUser) -> RedirectResponse:
    _admin(caller)
    secret = secrets.token_urlsafe(24)
    with state.db.session() as session:
        find_repository(session, repo).webhook_secret = state.box.encrypt(secret)
    return RedirectResponse(f"/r/{repo}/settings?secret={quote(secret)}", status_code=303)


@router.post("/r/{repo}/settings/remote", dependencies=[Csrf])
async def set_remote(
    request: Request, repo: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    with state.db.session() as session:
        find_repository(session, repo).remote_url = form.get("remote_url") or None
    return _done(f"/r/{repo}/settings", "saved the remote")


@router.post("/r/{repo}/settings/notifications", dependencies=[Csrf])
async def add_notification(
    request: Request, repo: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await request.form()
    back = f"/r/{repo}/settings"
    url = str(form.get("url", ""))
    try:
        validate_url(url)
        kinds = parse_kinds([str(k) for k in form.getlist("kinds")])
    except ShiplineError as exc:
        return _done(back, str(exc), error=True)
    with state.db.session() as session:
        session.add(
            NotificationTarget(
                repository_id=find_repository(session, repo).id,
                name=str(form.get("name") or "target"),
                url=state.box.encrypt(url),
                kinds=",".join(sorted(kinds)),
            )
        )
    return _done(back, "added the notification target")


@router.post("/r/{repo}/settings/notifications/{target}/delete", dependencies=[Csrf])
def delete_notification(
    repo: str, target: int, state: StateDep, caller: WebUser
) -> RedirectResponse:
    return _delete_target(state, caller, repo, NotificationTarget, target, "notification target")


@router.post("/r/{repo}/settings/statuses", dependencies=[Csrf])
async def add_status(
    request: Request, repo: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    back = f"/r/{repo}/settings"
    target = StatusTarget(
        form.get("forge", ""),
        form.get("project", ""),
        form.get("token", ""),
        form.get("base_url") or None,
    )
    try:
        status_request(target, "0" * 40, StatusState.PENDING, "http://shipline.invalid/", "")
    except ShiplineError as exc:
        return _done(back, str(exc), error=True)
    with state.db.session() as session:
        session.add(
            StatusTargetRow(
                repository_id=find_repository(session, repo).id,
                forge=target.forge,
                project=target.project,
                base_url=target.base_url,
                token=state.box.encrypt(target.token),
            )
        )
    return _done(back, "added the commit status target")


@router.post("/r/{repo}/settings/statuses/{target}/delete", dependencies=[Csrf])
def delete_status(repo: str, target: int, state: StateDep, caller: WebUser) -> RedirectResponse:
    return _delete_target(state, caller, repo, StatusTargetRow, target, "commit status target")


# ---- members and roles (the server), your account --------------------------------------


@router.get("/settings", response_class=HTMLResponse)
def server_settings(request: Request, state: StateDep, caller: WebUser) -> HTMLResponse:
    _admin(caller)
    with state.db.session() as session:
        users = list_users(session)
    return page(
        request,
        "settings_server.html",
        caller,
        users=users,
        roles=[r.value for r in Role],
        flash=request.query_params.get("flash"),
        flash_kind="error" if request.query_params.get("error") else "",
    )


@router.post("/settings/users", dependencies=[Csrf])
async def add_member(request: Request, state: StateDep, caller: WebUser) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    try:
        with state.db.session() as session:
            create_user(session, form["name"], Role(form["role"]), form.get("password") or None)
    except (ShiplineError, ValueError) as exc:
        return _done("/settings", str(exc), error=True)
    return _done("/settings", f"added {form['name']}")


@router.post("/settings/users/{name}", dependencies=[Csrf])
async def change_member(
    request: Request, name: str, state: StateDep, caller: WebUser
) -> RedirectResponse:
    _admin(caller)
    form = await _form(request)
    try:
        with state.db.session() as session:
            if form.get("remove") == "1":
                delete_user(session, name)
            else:
                set_role(session, name, Role(form["role"]))
        state.callers.clear()  # a changed role or a removed user counts at once
    except (ShiplineError, ValueError) as exc:
        return _done("/settings", str(exc), error=True)
    return _done("/settings", f"updated {name}")


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, state: StateDep, caller: WebUser) -> HTMLResponse:
    with state.db.session() as session:
        user = session.get(User, caller.user_id)
        assert user is not None
        tokens = list_tokens(session, user)
    return page(
        request,
        "account.html",
        caller,
        tokens=tokens,
        new_token=request.query_params.get("token"),
        flash=request.query_params.get("flash"),
        flash_kind="error" if request.query_params.get("error") else "",
    )


@router.post("/account/tokens", dependencies=[Csrf])
async def new_token(request: Request, state: StateDep, caller: WebUser) -> RedirectResponse:
    form = await _form(request)
    with state.db.session() as session:
        user = session.get(User, caller.user_id)
        assert user is not None
        token = issue_user_token(session, user, form.get("name") or "web")
    return RedirectResponse(f"/account?token={quote(token)}", status_code=303)


@router.post("/account/tokens/{token_id}/delete", dependencies=[Csrf])
def drop_token(token_id: int, state: StateDep, caller: WebUser) -> RedirectResponse:
    with state.db.session() as session:
        user = session.get(User, caller.user_id)
        assert user is not None
        revoke_token(session, user, token_id)
    state.callers.clear()
    return _done("/account", "revoked the token")


@router.post("/account/password", dependencies=[Csrf])
async def change_password(request: Request, state: StateDep, caller: WebUser) -> RedirectResponse:
    form = await _form(request)
    try:
        with state.db.session() as session:
            set_password(session, caller.name, form.get("password", ""))
    except ShiplineError as exc:
        return _done("/account", str(exc), error=True)
    return _done("/account", "changed your password")
