"""Alembic environment: runs migrations on the engine the server hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from shipline.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through shipline.store.Database.migrate()")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    context.run_migrations()
