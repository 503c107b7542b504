"""API tokens: random secrets shown once, stored as SHA-256, checked in constant time."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipline.store.models import ApiToken, Role, User

TOKEN_PREFIX = "shp_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(session: Session, user: User, name: str) -> str:
    """Create a token for `user`; the clear text exists only in the return value."""
    token = new_token()
    session.add(ApiToken(user=user, name=name, token_hash=hash_token(token)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    # Looking up by hash never compares secrets byte by byte in Python.
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if found is None:
        return None
    found.last_used_at = dt.datetime.now(dt.UTC)
    return found.user


def bootstrap_admin(session: Session) -> str | None:
    """On a database without users, create `admin` and return its one-time token."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    admin = User(name="admin", role=Role.ADMIN.value)
    session.add(admin)
    return issue_token(session, admin, "first admin token")
