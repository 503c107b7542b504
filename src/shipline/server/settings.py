"""Where the server keeps its data and how it is reached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipline.store.db import sqlite_url


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    database_url: str | None = None  # default: SQLite in the data directory
    host: str = "127.0.0.1"
    port: int = 8000
    executor: str = "auto"  # as `shipline run --executor`
    concurrency: int = 2  # pipelines run at once by the embedded workers

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir)

    @property
    def repos_dir(self) -> Path:
        return self.data_dir / "repos"
