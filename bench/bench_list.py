"""The pipelines list API with 10,000 pipelines in the database (target p95 ≤ 50 ms).

Seeds a data directory with one repository holding N pipelines of 5 steps each (written
straight into the database through Shipline's own models, as if they had run), starts a
real `shipline serve` on it (embedded defaults: SQLite, or `--database-url`), then times
`GET /api/v1/repos/shop/pipelines` — the first page, a deep page (`before=`), a branch filter
and a status filter — against the bare baseline measured in the same run on the same
server: `GET /api/v1/health`, which touches no database.

Usage: python bench/bench_list.py [--pipelines N] [--requests N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import free_port, machine, start_server, table, verdict

from shipline.plan import Event
from shipline.plan.event_codec import event_to_json
from shipline.store.db import Database, sqlite_url
from shipline.store.models import Pipeline, Repository, Step

STATUSES = ["passed"] * 8 + ["failed", "cancelled"]
BRANCHES = ["main"] * 5 + ["develop", "feature/a", "feature/b", "release/1.0", "fix/x"]


def seed(url: str, count: int) -> None:
    db = Database(url)
    db.migrate()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with db.session() as session:
        repository = Repository(name="shop", last_build_number=count)
        session.add(repository)
        session.flush()
        for number in range(1, count + 1):
            branch = BRANCHES[number % len(BRANCHES)]
            status = STATUSES[number % len(STATUSES)]
            created = start + dt.timedelta(minutes=number)
            pipeline = Pipeline(
                repository_id=repository.id, build_number=number, trigger="push",
                ref_type="branch", ref_name=branch, commit=f"{number:040x}",
                pipeline_key="default", reason="seeded", status=status,
                created_at=created, started_at=created, finished_at=created,
                event=event_to_json(Event(branch=branch)),
            )  # fmt: skip
            pipeline.steps = [
                Step(
                    step_key=f"step-{i}",
                    number=i,
                    name=f"Step {i}",
                    status="passed",
                    started_at=created,
                    finished_at=created,
                )
                for i in range(1, 6)
            ]
            session.add(pipeline)
            if number % 1000 == 0:
                session.flush()
    db.dispose()


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    requests = 50 if args.quick else args.requests
    with tempfile.TemporaryDirectory(prefix="shipline-bench-list-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        url = args.database_url or sqlite_url(data)
        began = time.perf_counter()
        seed(url, args.pipelines)
        seeded = time.perf_counter() - began
        port = free_port()
        extra = ("--database-url", args.database_url) if args.database_url else ()
        server, token, _ = start_server(data, port, *extra)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
                middle = args.pipelines // 2
                cases = {
                    "health (baseline)": "/health",
                    "first page, 50": "/repos/shop/pipelines?limit=50",
                    f"page before #{middle}, 50": f"/repos/shop/pipelines?limit=50&before={middle}",
                    "branch=develop, 50": "/repos/shop/pipelines?limit=50&branch=develop",
                    "status=failed, 50": "/repos/shop/pipelines?limit=50&status=failed",
                }
                timings: dict[str, list[float]] = {name: [] for name in cases}
                for path in cases.values():  # warm up
                    response = client.get(base + path)
                    response.raise_for_status()
                for _ in range(requests):  # interleaved, so drift hits every case alike
                    for name, path in cases.items():
                        start = time.perf_counter()
                        response = client.get(base + path)
                        timings[name].append(time.perf_counter() - start)
                        assert response.status_code == 200, response.text
                first = client.get(f"{base}/repos/shop/pipelines?limit=50").json()
                assert len(first) == 50
                assert first[0]["number"] == args.pipelines
        finally:
            server.terminate()
            server.wait(10)

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{args.pipelines} pipelines × 5 steps on {backend} (seeded in {seeded:.1f} s); "
          f"{requests} requests per case; {machine()}")  # fmt: skip
    baseline = statistics.median(timings["health (baseline)"])
    rows = []
    worst = 0.0
    for name, values in timings.items():
        p95 = quantile(values, 95)
        if name != "health (baseline)":
            worst = max(worst, p95)
        rows.append([
            name, f"{statistics.median(values) * 1000:.1f}", f"{p95 * 1000:.1f}",
            f"{max(values) * 1000:.1f}", f"{statistics.median(values) / baseline:.1f}x",
        ])  # fmt: skip
    print(table(["request", "p50 ms", "p95 ms", "max ms", "p50 / health"], rows))
    print(f"worst p95 of the list calls: {worst * 1000:.1f} ms; target ≤ 50 ms: "
          f"{verdict(worst <= 0.050)}")  # fmt: skip


if __name__ == "__main__":
    main()
