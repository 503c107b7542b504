"""Users of a server: names, roles, passwords (scrypt) and their API tokens.

A pure service over a SQLAlchemy session: it never commits, so the caller's block decides
(and rolls back when a `UserError` leaves it). There is always at least one admin: demoting
or deleting the last one is refused by a conditional write, so two admins demoting each
other at once cannot both succeed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from shipline.errors import ShiplineError
from shipline.server import tokens
from shipline.store.models import ApiToken, Role, User

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
NAME_RULE = "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt would hash more, but nobody types it
MAX_TOKEN_NAME = 100  # the column's size

# Python's documented scrypt parameters: 16 MiB and some 50 ms per hash.
SCHEME = "scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
# What a stored hash may ask for before it is refused unchecked: 4 times the memory of the
# parameters above (scrypt needs 128·r·N bytes) and 32 times their work (N·r·p).
MAX_SCRYPT_MEMORY = 4 * 128 * SCRYPT_R * SCRYPT_N
MAX_SCRYPT_WORK = 32 * SCRYPT_N * SCRYPT_R * SCRYPT_P


class UserError(ShiplineError):
    """A user or token cannot be changed as asked (bad name, short password...)."""


class UnknownUser(UserError):
    """No user has that name."""


class UserConflict(UserError):
    """The change clashes with what exists: a name taken, the last admin."""


class WrongPassword(UserError):
    """The current password given to prove who you are is wrong."""


# ---- passwords ------------------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL refuses more than 32 MiB unless told; the bound is checked before this.
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=2 * MAX_SCRYPT_MEMORY
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """`scrypt$16384$8$1$<salt base64>$<key base64>`, with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def check_password(stored: str | None, password: str) -> bool:
    """Whether `password` made `stored`; keys are compared in constant time. False for no
    hash, a malformed one, or one whose parameters would cost more than a login should."""
    parts = (stored or "").split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if n < 2 or n & (n - 1) or r < 1 or p < 1:  # N a power of two, as scrypt needs
        return False
    if 128 * r * n > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK:
        return False
    if not salt or not 16 <= len(expected) <= 64:
        return False
    try:
        key = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(key, expected)


@functools.cache
def _decoy_hash() -> str:
    # Checked when there is no hash to check, so a wrong name (or a user without password)
    # takes as long to refuse as a wrong password: timing does not tell which names exist.
    return hash_password(secrets.token_urlsafe(24))


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"invalid user name {name!r}: use {NAME_RULE}")
    return name


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"a password has at most {MAX_PASSWORD} characters")
    try:
        password.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate, which JSON can carry
        raise UserError("a password must be valid Unicode text") from exc
    return password


# ---- users ----------------------------------------------------------------------------


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def get_user(session: Session, name: str) -> User:
    """The user called `name`, else UnknownUser."""
    user = find_user(session, name)
    if user is None:
        raise UnknownUser(f"no user '{name}'")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.name)).all()


def create_user(session: Session, name: str, role: Role, password: str | None = None) -> User:
    """A new user; with a password they can also sign in to the web UI by name."""
    check_name(name)
    role = Role(role)
    password_hash = None if password is None else hash_password(check_new_password(password))
    if find_user(session, name) is not None:
        raise UserConflict(f"user '{name}' already exists")
    user = User(name=name, role=role.value, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # someone else created it since we looked
        raise UserConflict(f"user '{name}' already exists") from exc
    return user


def _lock_admins(session: Session) -> None:
    # PostgreSQL: a second demotion waits here until the first commits, then its
    # conditional write sees the result. SQLite has one writer at a time anyway.
    session.scalars(select(User.id).where(User.role == Role.ADMIN.value).with_for_update()).all()


def _not_the_last_admin(user_id: int) -> ColumnElement[bool]:
    """True for a row that is not an admin, or an admin while another admin exists."""
    other = aliased(User)  # an alias, so the count does not correlate with the outer row
    others = (
        select(func.count())
        .select_from(other)
        .where(other.role == Role.ADMIN.value, other.id != user_id)
        .scalar_subquery()
    )
    return or_(User.role != Role.ADMIN.value, others > 0)


def _last_admin(name: str) -> UserConflict:
    return UserConflict(f"'{name}' is the last admin: make another user admin first")


def set_role(session: Session, name: str, role: Role) -> User:
    """Give `name` another role; the last admin keeps theirs."""
    user = get_user(session, name)
    role = Role(role)
    conditions = [User.id == user.id]
    if role is not Role.ADMIN:
        _lock_admins(session)
        conditions.append(_not_the_last_admin(user.id))
    changed = session.execute(update(User).where(*conditions).values(role=role.value))
    if not changed.rowcount:  # type: ignore[attr-defined]
        raise _last_admin(name)
    return user


def set_password(session: Session, name: str, password: str) -> User:
    """Set (or replace) the password `name` signs in to the web UI with."""
    check_new_password(password)
    user = get_user(session, name)
    user.password_hash = hash_password(password)
    return user


def change_password(session: Session, name: str, current: str, new: str) -> User:
    """A user changing their own password: `current` is their password, or, while they
    have none yet, one of their API tokens (what they signed in with)."""
    check_new_password(new)
    user = get_user(session, name)
    if user.password_hash is not None:
        proven = check_password(user.password_hash, current)
    else:
        proven = find_token(session, user, current) is not None
    if not proven:
        raise WrongPassword("the current password is wrong")
    user.password_hash = hash_password(new)
    return user


def delete_user(session: Session, name: str) -> None:
    """Delete `name` and their tokens; the last admin stays."""
    user = get_user(session, name)
    user_id = user.id
    _lock_admins(session)
    gone = session.execute(delete(User).where(User.id == user_id, _not_the_last_admin(user_id)))
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise _last_admin(name)
    # The foreign key cascades on both databases (SQLite with foreign_keys=ON, which
    # store.db sets); deleting them here as well leaves no token behind on a connection
    # without that pragma. The ORM's own `session.delete(user)` would instead try to set
    # the tokens' user_id to NULL, which the column refuses.
    session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


def authenticate_password(session: Session, name: str, secret: str) -> User | None:
    """The user `name` if `secret` is their password or one of their API tokens (the
    first admin has only the token printed at first start), else None."""
    user = find_user(session, name) if name and secret else None
    stored = user.password_hash if user is not None else None
    # Always one scrypt, so the time taken does not say whether `name` exists.
    matched = check_password(stored or _decoy_hash(), secret) and stored is not None
    if user is None:
        return None
    if matched:
        return user
    token = find_token(session, user, secret)
    if token is None:
        return None
    token.last_used_at = dt.datetime.now(dt.UTC)
    return user


# ---- tokens of a user -----------------------------------------------------------------


def find_token(session: Session, user: User, secret: str) -> ApiToken | None:
    """`user`'s token whose clear text is `secret` (looked up by hash, never compared)."""
    if not secret:
        return None
    return session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == tokens.hash_token(secret), ApiToken.user_id == user.id
        )
    )


def issue_user_token(session: Session, user: User, name: str) -> str:
    """A new API token of `user`, called `name`; its clear text exists only in the answer."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_TOKEN_NAME:
        raise UserError(f"a token needs a name of 1–{MAX_TOKEN_NAME} characters")
    secret = tokens.issue_token(session, user, name)
    session.flush()
    return secret


def list_tokens(session: Session, user: User) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()


def revoke_token(session: Session, user: User, token_id: int) -> bool:
    """Delete `user`'s token `token_id`; False when they have no such token."""
    gone = session.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    return bool(gone.rowcount)  # type: ignore[attr-defined]
