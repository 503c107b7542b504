"""A 50 MB step log streamed while other requests stay fast (server, embedded defaults).

Starts `shipline serve` (SQLite, in-process workers) on a free loopback port, creates a
repository and pushes, with a real `git push`, a pipeline whose one step prints ~50 MB of
base64 text in blocks (`seq A B | base64`, a short pause between blocks, so that the step
runs for a few seconds). The output is deterministic, so its exact bytes and sha256 are
computed here. Then, with the streaming clients in processes of their own (the latency
prober, in this one, never waits for their GIL):

1. live, while the step runs: one client follows the step's SSE stream from offset 0 to its
   `end` event; another downloads the raw log over and over (each download must be a prefix
   of the final log, exactly Content-Length bytes long);
2. afterwards: the finished log streamed from offset 0 and downloaded raw, at the same time,
   several rounds, each checked byte for byte (sha256) against what the step printed;
3. meanwhile a prober sends `GET /api/v1/health` and `GET /api/v1/repos/R/pipelines` in a
   loop and records their latencies; the same probes on the idle server, in the same run,
   are the baseline.

It prints p50/p95/max of both calls during 1, during 2 and idle, the ratio of p95s, and the
stream's and the download's throughput against `cat LOGFILE > /dev/null` (the bare baseline).
Target: the list call's p95 ≤ 50 ms while a 50 MB log is being streamed.

Usage: python bench/bench_logs.py [--quick] [--mb N] [--rounds N] [--pause SECONDS]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import multiprocessing
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
from benchlib import free_port, machine, start_server, table, verdict

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@shipline.invalid"]
TARGET_P95_MS = 50.0
NUMBERS_PER_MB = 92_500  # 7-digit `seq` numbers whose base64 is about 1 MB (8 × 77 / 57)
IDLE_PROBES = 300
MAX_PROBES = 3000  # per phase: the loop stops at the phase's end or here
MiB = 1024 * 1024


# ---- the step and what it prints ------------------------------------------------------


@dataclass(frozen=True)
class Output:
    blocks: int
    numbers: int
    pause: float
    first: int = 1_000_000  # 7-digit numbers: every block the same size

    @property
    def command(self) -> str:
        return (
            f"for i in $(seq 0 {self.blocks - 1}); do "
            f"seq $(({self.first} + i * {self.numbers})) "
            f"$(({self.first} + i * {self.numbers} + {self.numbers - 1})) | base64; "
            f"sleep {self.pause}; done"
        )

    def expected(self) -> bytes:
        """What the step prints: each block's `seq` output, base64 with 76-column lines."""
        parts = []
        for i in range(self.blocks):
            start = self.first + i * self.numbers
            text = "\n".join(map(str, range(start, start + self.numbers))) + "\n"
            parts.append(base64.encodebytes(text.encode()))
        return b"".join(parts)

    def pipeline(self) -> str:
        return (
            "pipelines:\n  default:\n    - step:\n        name: Big log\n"
            f"        script:\n          - {self.command}\n"
        )


# ---- clients (each runs in a process of its own) --------------------------------------


@dataclass
class Transfer:
    seconds: float
    first_byte_seconds: float
    size: int  # bytes of log text received
    sha256: str
    events: int = 0
    end: dict[str, object] = field(default_factory=dict)
    wire_bytes: int = 0
    ended_at: float = 0.0  # time.time() when the transfer ended


def stream_log(url: str, token: str, offset: int = 0) -> Transfer:
    """Follow the SSE stream from `offset` to its end event; the wire is read first, then
    parsed (the parse is not timed), and every event's offset checked."""
    chunks: list[bytes] = []
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        first = 0.0
        with client.stream("GET", f"{url}/stream?offset={offset}", headers=headers) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                if not first:
                    first = time.perf_counter() - started
                chunks.append(chunk)
        seconds = time.perf_counter() - started
    ended_at = time.time()
    wire = b"".join(chunks)
    digest, position, events, end = hashlib.sha256(), offset, 0, {}
    for block in wire.split(b"\n\n"):
        fields = dict(line.split(": ", 1) for line in block.decode().split("\n") if ": " in line)
        if fields.get("event") == "log":
            data = json.loads(fields["data"])
            text = data["text"].encode()
            position += len(text)
            if data["offset"] != position or fields.get("id") != str(position):
                raise SystemExit(f"stream offsets do not add up at byte {position}")
            digest.update(text)
            events += 1
        elif fields.get("event") == "end":
            end = json.loads(fields["data"])
    size = position - offset
    return Transfer(seconds, first, size, digest.hexdigest(), events, end, len(wire), ended_at)


def download_log(url: str, token: str) -> Transfer:
    """The raw log, whole; checks it holds exactly Content-Length bytes."""
    digest, size = hashlib.sha256(), 0
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        first = 0.0
        with client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            response.raise_for_status()
            length = int(response.headers["content-length"])
            for chunk in response.iter_raw():
                if not first:
                    first = time.perf_counter() - started
                digest.update(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
    if size != length:
        raise SystemExit(f"raw log: {size} bytes for a Content-Length of {length}")
    return Transfer(seconds, first, size, digest.hexdigest(), ended_at=time.time())


def download_while_running(pipeline_url: str, url: str, token: str) -> list[Transfer]:
    """Download the growing raw log again and again while the pipeline runs."""
    done: list[Transfer] = []
    headers = {"Authorization": f"Bearer {token}"}
    while len(done) < 200:
        status = httpx.get(pipeline_url, headers=headers, timeout=30).json()["status"]
        if status not in ("pending", "running"):
            break
        try:
            done.append(download_log(url, token))
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:  # 404: no output yet
                raise
            time.sleep(0.01)
    return done


# ---- the prober (in this process, its own thread) -------------------------------------


@dataclass
class Probes:
    health: list[float] = field(default_factory=list)
    pipelines: list[float] = field(default_factory=list)


def probe(url: str, token: str, keep_going: Callable[[], bool], limit: int) -> Probes:
    """Alternate the two calls back to back while `keep_going()`, at most `limit` times."""
    found = Probes()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for n in range(limit):
            if not keep_going():
                break
            path, into = (
                ("/api/v1/health", found.health)
                if n % 2 == 0
                else ("/api/v1/repos/bench/pipelines", found.pipelines)
            )
            started = time.perf_counter()
            response = client.get(path)
            into.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return found


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max in milliseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


# ---- the server --------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def cat_seconds(path: Path, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def mbps(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 MB, 1 round")
    parser.add_argument("--mb", type=int, default=50, help="about this many MB of log")
    parser.add_argument("--rounds", type=int, default=3, help="streams of the finished log")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between 1 MB blocks")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.rounds = 10, 1
    output = Output(blocks=args.mb, numbers=NUMBERS_PER_MB, pause=args.pause)
    expected = output.expected()
    header = f"+ {output.command}\n".encode()  # the log shows the command, then its output
    log_bytes = header + expected
    log_sha = hashlib.sha256(log_bytes).hexdigest()
    print(f"{machine()}")
    print(f"step output: {len(expected):,} bytes in {output.blocks} blocks; log {len(log_bytes):,}")

    spawn = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="shipline-bench-logs-") as tmp,
        ProcessPoolExecutor(3, mp_context=spawn) as pool,
    ):
        root = Path(tmp)
        port = free_port()
        server, token, server_lines = start_server(root / "data", port)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for warm in [pool.submit(time.sleep, 0.1) for _ in range(3)]:
                warm.result()  # the client processes are up before anything is timed
            httpx.post(f"{url}/api/v1/repos", json={"name": "bench"}, headers=headers)
            work = root / "work"
            work.mkdir()
            git(work, "init", "-q", "-b", "main")
            (work / "bitbucket-pipelines.yml").write_text(output.pipeline())
            git(work, "add", "-A")
            git(work, "commit", "-qm", "a 50 MB log")
            git(work, "push", "-q", f"http://x:{token}@127.0.0.1:{port}/git/bench.git", "HEAD:main")
            pipeline_url = f"{url}/api/v1/repos/bench/pipelines/1"
            key = httpx.get(pipeline_url, headers=headers).json()["steps"][0]["key"]
            log_url = f"{url}/api/v1/repos/bench/pipelines/1/steps/{key}/log"

            # 1. live: follow the stream and download while the step runs.
            follower = pool.submit(stream_log, log_url, token)
            downloads = pool.submit(download_while_running, pipeline_url, log_url, token)
            running = probe(url, token, lambda: not follower.done(), MAX_PROBES)
            live, snapshots = follower.result(), downloads.result()
            finished = httpx.get(pipeline_url, headers=headers).json()
            if finished["status"] != "passed":
                raise SystemExit(f"the pipeline did not pass: {finished}")
            step = finished["steps"][0]
            step_seconds = _seconds(step["finished_at"]) - _seconds(step["started_at"])
            end_lag = live.ended_at - _seconds(step["finished_at"])

            # 2. afterwards: the finished log, streamed and downloaded at once, rounds times.
            log_file = root / "data" / "logs" / str(_pipeline_id(root)) / f"{key}.1.log"
            streams: list[Transfer] = []
            raws: list[Transfer] = []
            after = Probes()
            for _ in range(args.rounds):
                jobs: list[Future[Transfer]] = [
                    pool.submit(stream_log, log_url, token),
                    pool.submit(download_log, log_url, token),
                ]
                found = probe(url, token, partial(_any_running, jobs), MAX_PROBES)
                after.health += found.health
                after.pipelines += found.pipelines
                streams.append(jobs[0].result())
                raws.append(jobs[1].result())

            # 3. the idle baseline, same server, same list.
            idle = probe(url, token, lambda: True, IDLE_PROBES)
            bare = cat_seconds(log_file)
        finally:
            server.terminate()
            server.wait(10)
        if "Traceback" in "".join(server_lines):
            print("".join(server_lines)[-4000:])
            raise SystemExit("the server logged an error")

    # ---- checks --------------------------------------------------------------------------
    problems = []
    for name, got in [("live stream", live), *((f"stream {n}", s) for n, s in enumerate(streams))]:
        if (got.size, got.sha256) != (len(log_bytes), log_sha) or got.end.get("status") != (
            "passed"
        ):
            problems.append(f"{name}: {got.size} bytes, end {got.end}")
    for n, got in enumerate(raws):
        if (got.size, got.sha256) != (len(log_bytes), log_sha):
            problems.append(f"download {n}: {got.size} bytes, sha256 {got.sha256[:12]}")
    for got in snapshots:
        if hashlib.sha256(log_bytes[: got.size]).hexdigest() != got.sha256:
            problems.append(f"live download of {got.size} bytes is not a prefix of the log")
    if problems:
        raise SystemExit("wrong bytes:\n  " + "\n  ".join(problems))

    # ---- report -------------------------------------------------------------------------
    print(
        f"every byte checked (sha256): live stream, {len(streams)} streams and {len(raws)} "
        f"downloads of the finished log, {len(snapshots)} downloads while it grew "
        f"({min((s.size for s in snapshots), default=0):,}–"
        f"{max((s.size for s in snapshots), default=0):,} bytes)"
    )
    print(
        f"the step ran {step_seconds:.1f} s; the live stream ended {end_lag * 1000:.0f} ms "
        f"after the step's finished_at, {live.events} log events"
    )
    rows = []
    for phase, probes in (("idle (baseline)", idle), ("step running, live", running),
                          ("streaming finished log", after)):  # fmt: skip
        for call, values in (("health", probes.health), ("pipelines", probes.pipelines)):
            if not values:
                continue
            p50, p95, top = quantiles(values)
            base = quantiles(idle.health if call == "health" else idle.pipelines)[1]
            rows.append(
                [f"{phase}: {call}", str(len(values)), f"{p50:.1f}", f"{p95:.1f}",
                 f"{top:.1f}", f"{p95 / base:.2f}"]
            )  # fmt: skip
    print()
    print(table(["latency", "n", "p50 ms", "p95 ms", "max ms", "p95 / idle"], rows))
    stream_s = statistics.median(s.seconds for s in streams)
    raw_s = statistics.median(r.seconds for r in raws)
    print()
    print(
        table(
            ["transfer of the finished log", "median s", "MB/s", "ratio to cat"],
            [
                ["bare: cat LOGFILE > /dev/null", f"{bare:.3f}", mbps(len(log_bytes), bare), "1.0"],
                [
                    "SSE stream from offset 0",
                    f"{stream_s:.3f}",
                    mbps(len(log_bytes), stream_s),
                    f"{stream_s / bare:.1f}",
                ],
                [
                    "raw download",
                    f"{raw_s:.3f}",
                    mbps(len(log_bytes), raw_s),
                    f"{raw_s / bare:.1f}",
                ],
            ],
        )
    )
    print(
        f"(SSE: {statistics.median(s.wire_bytes for s in streams) / len(log_bytes):.3f} wire "
        f"bytes per log byte, {statistics.median(s.events for s in streams):.0f} events; "
        f"both transfers ran at the same time)"
    )
    worst = max(
        quantiles(running.pipelines)[1] if running.pipelines else 0.0,
        quantiles(after.pipelines)[1],
    )
    print(
        f"\ntarget: list call p95 <= {TARGET_P95_MS:.0f} ms while streaming: "
        f"{verdict(worst <= TARGET_P95_MS)} ({worst:.1f} ms, worst phase)"
    )


def _any_running(jobs: list[Future[Transfer]]) -> bool:
    return not all(job.done() for job in jobs)


def _seconds(timestamp: str) -> float:
    """An API timestamp as time.time() seconds (naive ones are UTC)."""
    moment = dt.datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _pipeline_id(root: Path) -> int:
    found = sorted((root / "data" / "logs").iterdir())
    return int(found[0].name)


if __name__ == "__main__":
    main()
