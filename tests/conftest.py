"""Shared fixtures: real git repositories in temporary directories, fresh databases."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

GIT_IDENTITY = [
    "-c",
    "user.name=Shipline Test",
    "-c",
    "user.email=test@shipline.invalid",
    "-c",
    "commit.gpgsign=false",
]


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Create a git repository holding `pipeline` (and `files`), committed on `branch`."""

    counter = iter(range(1000))

    def factory(
        pipeline: str,
        files: dict[str, str] | None = None,
        branch: str = "main",
        message: str = "initial commit",
    ) -> Path:
        repo = tmp_path / f"repo{next(counter)}"
        repo.mkdir()
        git(repo, "init", "-q", "-b", branch)
        (repo / "bitbucket-pipelines.yml").write_text(pipeline)
        for rel, text in (files or {}).items():
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
        return repo

    return factory


# The PostgreSQL that ./scripts/postgres-up keeps running for the tests.
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 55432
POSTGRES_USER = POSTGRES_PASSWORD = "shipline"
DATABASE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASE_KINDS, ids=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database of this test's own, on each kind Shipline
    supports: an SQLite file in tmp_path, or a new database on the PostgreSQL of
    ./scripts/postgres-up, dropped (whoever is still connected) when the test ends."""
    kind: str = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/shipline.db"
        return

    import psycopg  # only tests that use PostgreSQL need the driver
    from psycopg import sql

    def admin() -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                host=POSTGRES_HOST,
                port=POSTGRES_PORT,
                user=POSTGRES_USER,
                password=POSTGRES_PASSWORD,
                dbname="shipline",
                connect_timeout=5,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"no PostgreSQL lets shipline in on {POSTGRES_HOST}:{POSTGRES_PORT} ({exc}); "
                "run ./scripts/postgres-up",
                pytrace=False,
            )

    name = f"shipline_test_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        # Copying template1's files is about twice as fast as WAL-logging it block by block.
        create = sql.SQL("CREATE DATABASE {} STRATEGY = FILE_COPY")
        conn.execute(create.format(sql.Identifier(name)))
    try:
        yield (
            f"postgresql+psycopg://{POSTGRES_USER}:{POSTGRES_PASSWORD}"
            f"@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
        )
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
