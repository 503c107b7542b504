"""Migrations create the schema on SQLite (WAL) and PostgreSQL; sessions commit or roll back."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from shipline.store.db import Database, normalise_url
from shipline.store.models import Repository


def test_migrations_create_every_table_and_can_run_again(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # every server start runs it: the second time changes nothing
    tables = set(inspect(db.engine).get_table_names())
    assert {"users", "api_tokens", "repositories", "pipelines", "steps"} <= tables
    assert "alembic_version" in tables
    db.dispose()


def test_sqlite_runs_in_wal_mode(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # a PostgreSQL property test lives beside it; WAL is SQLite's
    db = Database(database_url)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_a_failing_block_rolls_back(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()

    def add_then_fail() -> None:
        with db.session() as session:
            session.add(Repository(name="lost"))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with db.session() as session:
        assert session.scalars(select(Repository)).all() == []
    db.dispose()


def test_postgres_urls_use_the_psycopg_driver() -> None:
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    """A model changed without a migration (or the reverse) shows up here, on both kinds."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shipline.store.models import Base

    db = Database(database_url)
    db.migrate()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    db.dispose()
    assert differences == []
