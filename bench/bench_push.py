"""Push → first step started, on the embedded defaults (SQLite, in-process workers).

Starts `shipline serve` on a free loopback port, creates a repository, then pushes N
commits one after the other. For each push it measures the time from the moment `git push`
is started to the moment the pipeline's first step is recorded as started (the step's
`started_at`, read back through the API), and, as the bare baseline measured in the same
run, the same `git push` to a plain bare repository on disk (no server, no pipeline).
Target: p50 ≤ 150 ms (GitLab Runner polls every 3 s).

Usage: python bench/bench_push.py [--pushes N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import free_port, start_server

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@shipline.invalid"]
PIPELINE = "pipelines:\n  default:\n    - step:\n        name: First\n        script: [echo hi]\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="10 pushes")
    args = parser.parse_args()
    if args.quick:
        args.pushes = 10
    with tempfile.TemporaryDirectory(prefix="shipline-bench-push-") as tmp:
        root = Path(tmp)
        port = free_port()
        server, token, printed = start_server(root / "data", port)
        try:
            url = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            httpx.post(f"{url}/api/v1/repos", json={"name": "bench"}, headers=headers)
            remote = f"http://x:{token}@127.0.0.1:{port}/git/bench.git"
            bare = root / "bare.git"
            subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
            work = root / "work"
            work.mkdir()
            git(work, "init", "-q", "-b", "main")
            (work / "bitbucket-pipelines.yml").write_text(PIPELINE)
            git(work, "add", "-A")
            git(work, "commit", "-qm", "first")
            latencies: list[float] = []
            baselines: list[float] = []
            for number in range(1, args.pushes + 1):
                git(work, "commit", "--allow-empty", "-qm", f"change {number}")
                started = time.perf_counter()
                git(work, "push", "-q", str(bare), "HEAD:main")
                baselines.append(time.perf_counter() - started)
                wall = dt.datetime.now(dt.UTC)
                clock = time.perf_counter()
                git(work, "push", "-q", remote, "HEAD:main")
                while True:
                    pipeline = httpx.get(
                        f"{url}/api/v1/repos/bench/pipelines/{number}", headers=headers
                    ).json()
                    first = pipeline["steps"][0]["started_at"]
                    if first:
                        break
                    if time.perf_counter() - clock > 30:
                        raise SystemExit(
                            f"pipeline {number} did not start: {pipeline}\n"
                            f"the server printed:\n{''.join(printed)[-3000:]}"
                        )
                    time.sleep(0.002)
                began = dt.datetime.fromisoformat(first)
                if began.tzinfo is None:
                    began = began.replace(tzinfo=dt.UTC)
                latencies.append((began - wall).total_seconds())
        finally:
            server.terminate()
            server.wait(10)

    def ms(values: list[float], q: float) -> float:
        return (
            statistics.quantiles(values, n=100)[int(q) - 1] * 1000
            if q != 50
            else (statistics.median(values) * 1000)
        )

    p50, p90 = ms(latencies, 50), ms(latencies, 90)
    base = statistics.median(baselines) * 1000
    print(f"pushes: {args.pushes}; {os.cpu_count()} CPUs; SQLite, embedded workers")
    print(f"git push to a plain bare repository (baseline): p50 {base:.1f} ms")
    print(f"git push to Shipline → first step started:      p50 {p50:.1f} ms, p90 {p90:.1f} ms")
    print(
        f"ratio p50 / baseline: {p50 / base:.2f}x; target p50 <= 150 ms: "
        f"{'MET' if p50 <= 150 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
