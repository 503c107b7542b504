"""The `database_url` fixture: a fresh, empty database per test, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    select,
    text,
)


def probe_table(metadata: MetaData) -> Table:
    return Table(
        "probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("note", String(100), nullable=False),
    )


def test_create_insert_select(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        metadata = MetaData()
        probe = probe_table(metadata)
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(probe.insert(), [{"note": "first"}, {"note": "second"}])
        with engine.connect() as conn:
            notes = conn.execute(select(probe.c.note).order_by(probe.c.id)).scalars().all()
        assert notes == ["first", "second"]
        assert engine.dialect.name == database_url.split(":")[0].split("+")[0]
    finally:
        engine.dispose()


@pytest.mark.parametrize("writer", ["one", "another"])
def test_each_test_gets_a_database_of_its_own(database_url: str, writer: str) -> None:
    # Both tests write a row into a table of the same name: were the database shared, the
    # later one would find the table (or the other's row) already there.
    engine = create_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        metadata = MetaData()
        probe = probe_table(metadata)
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(probe.insert(), [{"note": writer}])
        with engine.connect() as conn:
            assert conn.execute(select(probe.c.note)).scalars().all() == [writer]
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_database_is_a_file_in_tmp_path(database_url: str, tmp_path: Path) -> None:
    assert database_url == f"sqlite:///{tmp_path}/shipline.db"
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        engine.dispose()
    assert (tmp_path / "shipline.db").is_file()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_is_version_15_or_later(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
            current = conn.execute(text("SELECT current_database()")).scalar_one()
        assert version >= 150000
        prefix = "postgresql+psycopg://shipline:shipline@127.0.0.1:55432/"
        assert database_url.startswith(prefix)
        assert current == database_url.removeprefix(prefix)
        assert current.startswith("shipline_test_")
    finally:
        engine.dispose()
