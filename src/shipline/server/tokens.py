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


LAST_USED_PRECISION = dt.timedelta(minutes=1)


def user_for_token(session: Session, token: str) -> User | None:
    # Looking up by hash never compares secrets byte by byte in Python.
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if found is None:
        return None
    now = dt.datetime.now(dt.UTC)
    last = found.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)  # SQLite gives naive datetimes back
    # A write per request would queue every reader behind the writers; a minute is enough.
    if last is None or now - last > LAST_USED_PRECISION:
        found.last_used_at = now
    return found.user


def bootstrap_admin(session: Session) -> str | None:
    """On a database without users, create `admin` and return its one-time token."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    admin = User(name="admin", role=Role.ADMIN.value)
    session.add(admin)
    return issue_token(session, admin, "first admin token")
