"""Where the server keeps its data, how it is reached, and how its workers behave."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipline.server.logs import DEFAULT_MAX_BYTES
from shipline.store.db import sqlite_url


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    database_url: str | None = None  # default: SQLite in the data directory
    host: str = "127.0.0.1"
    port: int = 8000
    executor: str = "auto"  # as `shipline run --executor`
    workers: int = 4  # steps the embedded workers run at once (0: none, remote workers only)
    lease_seconds: float = 30.0  # a running step whose worker is silent this long is lost
    heartbeat_seconds: float = 5.0
    retry_lost_steps: int = 0  # run a lost step again this many times (never deployments)
    max_log_bytes: int = DEFAULT_MAX_BYTES
    artifact_retention_days: float = 14.0  # as Bitbucket
    keep_deployments: int = 10  # every environment's last N deployments keep their artifacts

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir)

    @property
    def repos_dir(self) -> Path:
        return self.data_dir / "repos"
