"""Who is calling: bearer tokens for the API, basic auth (token as password) for git."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from shipline.server.state import ServerState, StateDep
from shipline.server.tokens import hash_token, user_for_token
from shipline.store.models import Role, User


@dataclass(frozen=True)
class Caller:
    user_id: int
    name: str
    role: Role


def token_from_headers(authorization: str | None) -> str | None:
    """`Bearer TOKEN`, or `Basic base64(user:TOKEN)` as git sends it."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


SAFE_METHODS = frozenset({"GET", "HEAD"})
CACHE_SECONDS = 5.0  # how long a checked token is trusted without asking the database


def authenticate(state: ServerState, authorization: str | None) -> Caller | None:
    token = token_from_headers(authorization)
    if token is None:
        return None
    key = hash_token(token)
    cached = state.callers.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    with state.db.session() as session:
        user = user_for_token(session, token)
        if user is None:
            return None
        caller = Caller(user.id, user.name, Role(user.role))
    if len(state.callers) > 10_000:  # never grows without bound
        state.callers.clear()
    state.callers[key] = (caller, time.monotonic() + CACHE_SECONDS)
    return caller


def session_caller(state: ServerState, request: Request) -> Caller | None:
    """The user signed in to the web UI with this request's session cookie, if any."""
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if not isinstance(user_id, int):
        return None
    with state.db.session() as session:
        user = session.get(User, user_id)
        if user is None:
            return None
        return Caller(user.id, user.name, Role(user.role))


def require(role: Role) -> Callable[[Request, ServerState], Caller]:
    """A dependency admitting callers whose role includes `role`."""

    def dependency(request: Request, state: StateDep) -> Caller:
        caller = authenticate(state, request.headers.get("authorization"))
        if caller is None and request.method in SAFE_METHODS:
            # The web UI's pages read (logs, streams) with their session cookie; anything
            # that changes state still needs a token (or a page's CSRF-checked form).
            caller = session_caller(state, request)
        if caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid API token is required (Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not caller.role.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {role.value} role; you are {caller.role.value}",
            )
        return caller

    return dependency


Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Developer = Annotated[Caller, Depends(require(Role.DEVELOPER))]
Deployer = Annotated[Caller, Depends(require(Role.DEPLOYER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
