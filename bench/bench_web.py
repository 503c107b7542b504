"""The web UI's server time with 10,000 pipelines: the pipelines list and a pipeline page
(target p95 ≤ 100 ms each).

Pushes one real pipeline to a real `shipline serve` (embedded defaults), then seeds 10,000
more of the same commit and event straight into its database (5 steps each), signs in
through the login form and times, interleaved: the first page of the list, a deep page
(`before=`), a filtered page, a pipeline page (graph, actions, artifacts) and the bare
baseline measured in the same run on the same server: the sign-in page, which renders a
template but reads no data.

Usage: python bench/bench_web.py [--pipelines N] [--requests N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import GIT_IDENTITY, free_port, machine, start_server, table, verdict
from sqlalchemy import select

from shipline.store.db import Database, sqlite_url
from shipline.store.models import Pipeline, Repository, Step

PIPELINE = """
pipelines:
  default:
    - step: {name: Build, script: [echo build]}
    - parallel:
        steps:
          - step: {name: Unit, script: [echo unit]}
          - step: {name: Lint, script: [echo lint]}
    - step: {name: Staging, deployment: staging, script: [echo staging]}
    - step: {name: Production, deployment: production, trigger: manual, script: [echo prod]}
"""


def seed(url: str, count: int) -> int:
    """Copy the pushed pipeline `count` times; returns the number of the last one."""
    db = Database(url)
    with db.session() as session:
        repository = session.scalar(select(Repository).where(Repository.name == "shop"))
        assert repository is not None
        model = session.scalar(select(Pipeline).where(Pipeline.repository_id == repository.id))
        assert model is not None
        steps = session.scalars(select(Step).where(Step.pipeline_id == model.id)).all()
        start = repository.last_build_number
        when = dt.datetime.now(dt.UTC)
        for number in range(start + 1, start + count + 1):
            pipeline = Pipeline(
                repository_id=repository.id, build_number=number, trigger="push",
                ref_type="branch", ref_name="main" if number % 4 else "develop",
                commit=model.commit, pipeline_key=model.pipeline_key, reason=model.reason,
                status="passed" if number % 9 else "failed", event=model.event,
                created_at=when, started_at=when, finished_at=when,
            )  # fmt: skip
            pipeline.steps = [
                Step(
                    step_key=s.step_key,
                    number=s.number,
                    name=s.name,
                    status="passed",
                    started_at=when,
                    finished_at=when,
                )
                for s in steps
            ]
            session.add(pipeline)
            if number % 1000 == 0:
                session.flush()
        repository.last_build_number = start + count
    db.dispose()
    return start + count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="30 requests per page")
    args = parser.parse_args()
    requests = 30 if args.quick else args.requests
    with tempfile.TemporaryDirectory(prefix="shipline-bench-web-") as tmp:
        root = Path(tmp)
        port = free_port()
        server, token, _ = start_server(root / "data", port)
        base = f"http://127.0.0.1:{port}"
        try:
            api = {"Authorization": f"Bearer {token}"}
            httpx.post(f"{base}/api/v1/repos", json={"name": "shop"}, headers=api)
            work = root / "work"
            work.mkdir()
            (work / "bitbucket-pipelines.yml").write_text(PIPELINE)
            for git_args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "x"],
                             ["push", "-q", f"http://x:{token}@127.0.0.1:{port}/git/shop.git",
                              "HEAD:main"]):  # fmt: skip
                subprocess.run(["git", *GIT_IDENTITY, *git_args], cwd=work, check=True,
                               capture_output=True)  # fmt: skip
            for _ in range(200):
                if httpx.get(f"{base}/api/v1/repos/shop/pipelines/1", headers=api).json()[
                    "status"
                ] in ("paused", "passed", "failed"):
                    break
                time.sleep(0.1)
            began = time.perf_counter()
            last = seed(sqlite_url(root / "data"), args.pipelines)
            seeded = time.perf_counter() - began
            with httpx.Client(base_url=base) as browser, httpx.Client(base_url=base) as anonymous:
                form = browser.get("/login").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                signed = browser.post("/login", data={"name": "admin", "secret": token,
                                                      "csrf": csrf, "next": "/"})  # fmt: skip
                assert signed.status_code in (200, 303), signed.text
                cases = {
                    "sign-in page (baseline)": "/login?next=/",
                    "pipelines list, first page": "/r/shop",
                    f"pipelines list, before #{last // 2}": f"/r/shop?before={last // 2}",
                    "pipelines list, branch + status": "/r/shop?branch=develop&status=failed",
                    f"pipeline page #{last}": f"/r/shop/p/{last}",
                    "pipeline page #1 (with artifacts, live)": "/r/shop/p/1",
                }
                timings: dict[str, list[float]] = {name: [] for name in cases}

                def client(name: str) -> httpx.Client:
                    return anonymous if "baseline" in name else browser

                for name, path in cases.items():  # warm up (and check)
                    assert client(name).get(path).status_code == 200, path
                for _ in range(requests):
                    for name, path in cases.items():
                        start = time.perf_counter()
                        response = client(name).get(path)
                        timings[name].append(time.perf_counter() - start)
                        assert response.status_code == 200, (path, response.status_code)
        finally:
            server.terminate()
            server.wait(10)

    def q(values: list[float], n: int) -> float:
        return statistics.quantiles(values, n=100)[n - 1] * 1000

    print(f"{args.pipelines} pipelines × 5 steps on SQLite (seeded in {seeded:.1f} s); "
          f"{requests} requests per page; {machine()}")  # fmt: skip
    baseline = statistics.median(timings["sign-in page (baseline)"])
    rows, worst = [], 0.0
    for name, values in timings.items():
        if "baseline" not in name:
            worst = max(worst, q(values, 95))
        rows.append([name, f"{statistics.median(values) * 1000:.1f}", f"{q(values, 95):.1f}",
                     f"{max(values) * 1000:.1f}",
                     f"{statistics.median(values) / baseline:.1f}x"])  # fmt: skip
    print(table(["page", "p50 ms", "p95 ms", "max ms", "p50 / sign-in page"], rows))
    print(f"worst p95: {worst:.1f} ms; target ≤ 100 ms: {verdict(worst <= 100)}")


if __name__ == "__main__":
    main()
