"""store: the server's durable state (SQLAlchemy 2 models, Alembic migrations, sessions)."""

from shipline.store.db import Database

__all__ = ["Database"]
