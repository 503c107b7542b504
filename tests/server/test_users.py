"""The user service: scrypt passwords, sign-in by password or token, name rules, the last
admin, and a deleted user's tokens — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from shipline.server import tokens, users
from shipline.store.db import Database
from shipline.store.models import ApiToken, Role, User


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def _name(user: User | None) -> str | None:
    return None if user is None else user.name


def _token_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(ApiToken)) or 0


# ---- passwords ------------------------------------------------------------------------


def test_a_password_hash_is_standard_scrypt_and_round_trips() -> None:
    stored = users.hash_password("correct horse battery")
    scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    assert (len(salt), len(key)) == (16, 32)
    # Anything that speaks scrypt can check it: nothing but the standard parameters.
    assert hashlib.scrypt(b"correct horse battery", salt=salt, n=16384, r=8, p=1, dklen=32) == key
    assert users.check_password(stored, "correct horse battery")
    assert users.hash_password("correct horse battery") != stored  # a fresh salt each time


def test_a_wrong_password_is_refused() -> None:
    stored = users.hash_password("correct horse battery")
    for wrong in ["correct horse batter", "Correct horse battery", "", "correct horse battery "]:
        assert not users.check_password(stored, wrong), wrong


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "correct horse battery",  # a clear-text password is never accepted as its own hash
        "scrypt$16384$8$1$c2FsdA==",  # a part missing
        "bcrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$lots$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$8$1$not base64!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # no salt
        "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # a key too short to mean anything
        "scrypt$10000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        # Gigabytes of memory, or minutes of work: refused without trying.
        "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$1024$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$16384$8$4096$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_a_missing_or_malformed_hash_matches_nothing(stored: str | None) -> None:
    started = time.perf_counter()
    assert not users.check_password(stored, "correct horse battery")
    assert time.perf_counter() - started < 2


# ---- users ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "alice", "Bob.Smith", "ci-bot_2", "7th", "x" * 100])
def test_names_that_are_allowed(db: Database, name: str) -> None:
    with db.session() as session:
        assert users.create_user(session, name, Role.VIEWER).name == name


@pytest.mark.parametrize(
    "name", ["", ".hidden", "-dash", "_under", "two words", "a/b", "a:b", "émile", "x" * 101]
)
def test_names_that_are_refused(db: Database, name: str) -> None:
    with db.session() as session, pytest.raises(users.UserError, match="invalid user name"):
        users.create_user(session, name, Role.VIEWER)


def test_a_name_is_taken_once_and_a_password_has_eight_characters(db: Database) -> None:
    with db.session() as session:
        users.create_user(session, "alice", Role.DEVELOPER, "long enough")
    with db.session() as session, pytest.raises(users.UserConflict, match="already exists"):
        users.create_user(session, "alice", Role.VIEWER)
    with db.session() as session, pytest.raises(users.UserError, match="at least 8 characters"):
        users.create_user(session, "bob", Role.VIEWER, "short")
    with db.session() as session:
        assert [u.name for u in users.list_users(session)] == ["alice"]
        with pytest.raises(users.UserError, match="at least 8"):
            users.set_password(session, "alice", "1234567")
        with pytest.raises(users.UnknownUser, match="no user 'nobody'"):
            users.set_password(session, "nobody", "long enough")


def test_sign_in_with_a_password_or_any_of_ones_tokens(db: Database) -> None:
    with db.session() as session:
        first = tokens.bootstrap_admin(session)  # the one-time token of the first start
        assert first is not None
        alice = users.create_user(session, "alice", Role.DEVELOPER, "alice's password")
        second = users.issue_user_token(session, alice, "laptop")
        third = users.issue_user_token(session, alice, "ci")
    with db.session() as session:
        assert _name(users.authenticate_password(session, "admin", first)) == "admin"
        # The admin has no password: nothing else signs them in.
        assert users.authenticate_password(session, "admin", "") is None
        assert users.authenticate_password(session, "admin", "alice's password") is None
        for secret in ["alice's password", second, third]:
            assert _name(users.authenticate_password(session, "alice", secret)) == "alice"
        # A token signs in its own user only, and a wrong secret or name nobody.
        assert users.authenticate_password(session, "alice", first) is None
        assert users.authenticate_password(session, "admin", second) is None
        assert users.authenticate_password(session, "alice", "alice's passwor") is None
        assert users.authenticate_password(session, "nobody", "alice's password") is None
        users.set_password(session, "alice", "a new password")
    with db.session() as session:
        assert users.authenticate_password(session, "alice", "alice's password") is None
        assert users.authenticate_password(session, "alice", "a new password") is not None
        # Signing in with a token counts as using it.
        used = session.scalar(select(ApiToken).where(ApiToken.name == "first admin token"))
        assert used is not None
        assert used.last_used_at is not None


def test_the_last_admin_can_be_neither_demoted_nor_deleted(db: Database) -> None:
    with db.session() as session:
        users.create_user(session, "root", Role.ADMIN)
        users.create_user(session, "dev", Role.DEVELOPER)
    for change in (
        lambda s: users.set_role(s, "root", Role.DEPLOYER),
        lambda s: users.delete_user(s, "root"),
    ):
        with db.session() as session, pytest.raises(users.UserConflict, match="last admin"):
            change(session)
    with db.session() as session:
        assert users.get_user(session, "root").role == "admin"
        assert users.set_role(session, "root", Role.ADMIN).role == "admin"  # no change is fine
        users.set_role(session, "dev", Role.ADMIN)
    with db.session() as session:
        assert users.set_role(session, "root", Role.VIEWER).role == "viewer"
    with db.session() as session, pytest.raises(users.UserConflict, match="'dev' is the last"):
        users.delete_user(session, "dev")
    with db.session() as session:
        users.delete_user(session, "root")  # not an admin any more
        assert [(u.name, u.role) for u in users.list_users(session)] == [("dev", "admin")]


def _demote(db: Database, name: str, start: threading.Barrier, outcomes: dict[str, str]) -> None:
    start.wait()
    try:
        with db.session() as session:
            users.set_role(session, name, Role.DEVELOPER)
        outcomes[name] = "demoted"
    except users.UserConflict:
        outcomes[name] = "refused"


def test_two_admins_demoting_each_other_at_once_leave_one_admin(db: Database) -> None:
    for round_ in range(5):  # without the row lock PostgreSQL lost about half the rounds
        a, b = f"a{round_}", f"b{round_}"
        with db.session() as session:
            for user in session.scalars(select(User).where(User.role == "admin")):
                user.role = "viewer"
            users.create_user(session, a, Role.ADMIN)
            users.create_user(session, b, Role.ADMIN)
        start = threading.Barrier(2)
        outcomes: dict[str, str] = {}
        threads = [
            threading.Thread(target=_demote, args=(db, name, start, outcomes)) for name in (a, b)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes.values()) == ["demoted", "refused"], outcomes
        with db.session() as session:
            admins = session.scalars(select(User.name).where(User.role == "admin")).all()
        assert len(admins) == 1


def test_deleting_a_user_deletes_their_tokens(db: Database) -> None:
    with db.session() as session:
        users.create_user(session, "root", Role.ADMIN)
        kept = users.issue_user_token(session, users.get_user(session, "root"), "root")
        leaving = users.create_user(session, "leaving", Role.DEPLOYER)
        gone = [users.issue_user_token(session, leaving, name) for name in ("a", "b")]
        assert len(users.list_tokens(session, leaving)) == 2
    assert _token_count(db) == 3
    with db.session() as session:
        users.list_tokens(session, users.get_user(session, "leaving"))  # loaded in the session
        users.delete_user(session, "leaving")
        assert users.find_user(session, "leaving") is None
    assert _token_count(db) == 1
    with db.session() as session:
        for secret in gone:
            assert tokens.user_for_token(session, secret) is None
        assert _name(tokens.user_for_token(session, kept)) == "root"
        with pytest.raises(users.UnknownUser):
            users.delete_user(session, "leaving")


def test_a_user_lists_and_revokes_their_own_tokens_only(db: Database) -> None:
    with db.session() as session:
        alice = users.create_user(session, "alice", Role.VIEWER)
        bob = users.create_user(session, "bob", Role.VIEWER)
        users.issue_user_token(session, alice, "laptop")
        bobs = users.issue_user_token(session, bob, "phone")
        with pytest.raises(users.UserError, match="name of 1"):
            users.issue_user_token(session, alice, "  ")
    with db.session() as session:
        alice, bob = users.get_user(session, "alice"), users.get_user(session, "bob")
        assert [t.name for t in users.list_tokens(session, alice)] == ["laptop"]
        (bob_token,) = users.list_tokens(session, bob)
        assert not users.revoke_token(session, alice, bob_token.id)
        assert not users.revoke_token(session, alice, 10_000)
        assert users.revoke_token(session, bob, bob_token.id)
        assert users.list_tokens(session, bob) == []
    with db.session() as session:
        assert tokens.user_for_token(session, bobs) is None
