"""Docker executor overhead, measured against plain `docker` commands in the same run.

1. Ten busybox steps run by Shipline (engine + DockerExecutor, fresh workspace per step)
   vs ten `docker run --rm IMAGE sh -c 'echo step N'` (target: ratio ≤ 1.10).
2. One step with an httpd service that the step queries on localhost vs the same containers
   started by hand: `docker run -d` the service, `docker run --rm --network container:SVC`
   the step, `docker rm -f` the service.

Needs a Docker engine and the test images: run ./scripts/docker-up first.
Usage: python bench/bench_docker.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from shipline.engine import PipelineEngine, PipelineStatus, RunListener
from shipline.local import LocalRequest, prepare
from shipline.plan import Plan
from shipline.run.docker import DockerExecutor

BUSYBOX = "shipline-test/busybox:latest"
HTTPD = "shipline-test/httpd:latest"
STEPS = 10
QUERY = "for i in $(seq 1 50); do wget -qO- http://localhost:8080/ && break; sleep 0.05; done"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@shipline.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _repo(root: Path, name: str, pipeline: str) -> Path:
    repo = root / name
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "bitbucket-pipelines.yml").write_text(pipeline)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "bench")
    return repo


def _shipline(repo: Path, data: Path, executor: DockerExecutor) -> float:
    local = prepare(LocalRequest(repo=repo, data_dir=data))
    assert isinstance(local.plan, Plan)
    assert local.context is not None
    engine = PipelineEngine(local.plan, local.context, executor, RunListener())
    started = time.perf_counter()
    result = engine.run()
    elapsed = time.perf_counter() - started
    assert result.status is PipelineStatus.PASSED, result
    return elapsed


def _bare_steps() -> float:
    started = time.perf_counter()
    for n in range(STEPS):
        subprocess.run(
            ["docker", "run", "--rm", BUSYBOX, "sh", "-c", f"echo step {n}"],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


def _bare_service() -> float:
    started = time.perf_counter()
    service = subprocess.run(
        ["docker", "run", "-d", "--memory", "256m", HTTPD],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                f"container:{service}",
                BUSYBOX,
                "sh",
                "-c",
                QUERY,
            ],
            check=True,
            capture_output=True,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", service], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    steps = "\n".join(
        f"    - step:\n        name: Step {n}\n        script:\n          - echo step {n}"
        for n in range(STEPS)
    )
    ten_steps = f"image: {BUSYBOX}\npipelines:\n  default:\n{steps}\n"
    with_service = f"""image: {BUSYBOX}
definitions:
  services:
    web:
      image: {HTTPD}
      memory: 256
pipelines:
  default:
    - step:
        name: Query the service
        services: [web]
        script:
          - {QUERY}
"""
    executor = DockerExecutor()
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as tmp:
        root = Path(tmp)
        repo_steps = _repo(root, "steps", ten_steps)
        repo_service = _repo(root, "service", with_service)
        _shipline(repo_steps, root / "data", executor)  # warm-up: page cache, image layers
        _bare_steps()
        rows: dict[str, list[float]] = {k: [] for k in ("ship10", "bare10", "shipsvc", "baresvc")}
        for _ in range(args.rounds):  # interleaved, so drift hits both sides alike
            rows["bare10"].append(_bare_steps())
            rows["ship10"].append(_shipline(repo_steps, root / "data", executor))
            rows["baresvc"].append(_bare_service())
            rows["shipsvc"].append(_shipline(repo_service, root / "data", executor))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"rounds: {args.rounds} (median of each)")
    print(f"{'case':<44}{'Shipline':>10}{'bare':>10}{'ratio':>8}")
    print(
        f"{'10 busybox steps vs 10 docker run --rm':<44}{med['ship10']:>9.2f}s"
        f"{med['bare10']:>9.2f}s{med['ship10'] / med['bare10']:>8.3f}"
    )
    print(
        f"{'step + httpd service vs containers by hand':<44}{med['shipsvc']:>9.2f}s"
        f"{med['baresvc']:>9.2f}s{med['shipsvc'] / med['baresvc']:>8.3f}"
    )
    per_step = (med["ship10"] - med["bare10"]) / STEPS * 1000
    print(f"per-step overhead vs docker run --rm: {per_step:+.1f} ms (target ratio ≤ 1.10)")


if __name__ == "__main__":
    main()
