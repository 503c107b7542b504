"""Users and API tokens: admins manage users; everyone manages their own tokens and password.

Tokens appear in clear text once, in the answer that creates them. Checked tokens are
trusted for a few seconds (`server.auth`), so every change that takes access away (a token
revoked, a user deleted, a role changed) empties that cache once it is committed.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from shipline.server import users
from shipline.server.auth import Admin, Caller, Viewer
from shipline.server.state import ServerState, StateDep
from shipline.store.models import ApiToken, Role, User

router = APIRouter(prefix="/api/v1", tags=["users"])

FIRST_TOKEN_NAME = "first token"


class UserOut(BaseModel):
    name: str
    role: Role
    created_at: dt.datetime
    has_password: bool = Field(description="Whether they can sign in to the web UI by name.")


class UserCreate(BaseModel):
    name: str = Field(description=f"{users.NAME_RULE}; unique.")
    role: Role
    password: str | None = Field(
        None,
        description=f"At least {users.MIN_PASSWORD} characters, for the web UI; "
        "without one, the user signs in with an API token.",
    )
    token: bool = Field(False, description="Also create a first API token (shown once).")


class UserCreated(UserOut):
    token: str | None = Field(None, description="The first API token; only in this answer.")


class UserChange(BaseModel):
    role: Role | None = Field(None, description="A new role; the last admin stays admin.")
    password: str | None = Field(None, description="A new password; null: unchanged.")


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None = Field(description="To the minute.")


class TokenCreate(BaseModel):
    name: str = Field(description='What it is for, e.g. "laptop" or "deploy script".')


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="The token itself; only in this answer.")


class PasswordChange(BaseModel):
    current: str = Field(
        description="Your password; while you have none, the API token you signed in with."
    )
    new: str = Field(description=f"At least {users.MIN_PASSWORD} characters.")


def _http(exc: users.UserError) -> HTTPException:
    if isinstance(exc, users.UnknownUser):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, users.UserConflict):
        code = status.HTTP_409_CONFLICT
    elif isinstance(exc, users.WrongPassword):
        code = status.HTTP_403_FORBIDDEN
    else:
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return HTTPException(code, str(exc))


def _user_out(user: User) -> UserOut:
    return UserOut(
        name=user.name,
        role=Role(user.role),
        created_at=user.created_at,
        has_password=user.password_hash is not None,
    )


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id, name=token.name, created_at=token.created_at, last_used_at=token.last_used_at
    )


def _me(session: Session, caller: Caller) -> User:
    user = session.get(User, caller.user_id)
    if user is None:  # deleted while its token was still trusted
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this user no longer exists")
    return user


def _forget_checked_tokens(state: ServerState) -> None:
    # Called after the commit: emptied earlier, a request in between could trust the old
    # state again for another few seconds.
    state.callers.clear()


# ---- users (admins) -------------------------------------------------------------------


@router.get("/users")
def list_users(state: StateDep, _: Admin) -> list[UserOut]:
    with state.db.session() as session:
        return [_user_out(user) for user in users.list_users(session)]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, state: StateDep, _: Admin) -> UserCreated:
    """Create a user, with a password for the web UI and/or a first API token."""
    try:
        with state.db.session() as session:
            user = users.create_user(session, body.name, body.role, body.password)
            token = users.issue_user_token(session, user, FIRST_TOKEN_NAME) if body.token else None
            return UserCreated(**_user_out(user).model_dump(), token=token)
    except users.UserError as exc:
        raise _http(exc) from exc


@router.patch("/users/{name}")
def change_user(name: str, body: UserChange, state: StateDep, _: Admin) -> UserOut:
    """Change a user's role and/or password; a new role applies to their next request."""
    try:
        with state.db.session() as session:
            user = users.get_user(session, name)
            if body.password is not None:
                users.set_password(session, name, body.password)
            if body.role is not None:
                users.set_role(session, name, body.role)
            out = _user_out(user)
    except users.UserError as exc:
        raise _http(exc) from exc
    if body.role is not None:
        _forget_checked_tokens(state)
    return out


@router.delete("/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(name: str, state: StateDep, _: Admin) -> Response:
    """Delete a user and their tokens (which stop working at once); never the last admin."""
    try:
        with state.db.session() as session:
            users.delete_user(session, name)
    except users.UserError as exc:
        raise _http(exc) from exc
    _forget_checked_tokens(state)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- your own tokens and password (everyone) ------------------------------------------


@router.get("/me/tokens")
def list_my_tokens(state: StateDep, caller: Viewer) -> list[TokenOut]:
    """Your API tokens (never the tokens themselves)."""
    with state.db.session() as session:
        return [_token_out(token) for token in users.list_tokens(session, _me(session, caller))]


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_my_token(body: TokenCreate, state: StateDep, caller: Viewer) -> TokenCreated:
    """A new API token of yours; the answer is the only place it is ever shown."""
    try:
        with state.db.session() as session:
            user = _me(session, caller)
            secret = users.issue_user_token(session, user, body.name)
            token = users.find_token(session, user, secret)
            assert token is not None
            return TokenCreated(id=token.id, name=token.name, token=secret)
    except users.UserError as exc:
        raise _http(exc) from exc


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(token_id: int, state: StateDep, caller: Viewer) -> Response:
    """Revoke one of your tokens; it is refused from the next request on."""
    with state.db.session() as session:
        revoked = users.revoke_token(session, _me(session, caller), token_id)
    if not revoked:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"you have no token {token_id}")
    _forget_checked_tokens(state)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_my_password(body: PasswordChange, state: StateDep, caller: Viewer) -> Response:
    """Change your password (set a first one by giving your API token as `current`)."""
    try:
        with state.db.session() as session:
            users.change_password(session, _me(session, caller).name, body.current, body.new)
    except users.UserError as exc:
        raise _http(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
