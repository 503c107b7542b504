"""The README's first command: `./scripts/demo` starts a server with the example pushed and
its pipeline running, shows it live, and keeps serving until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_demo_serves_the_webshop_and_its_pipeline_pauses_at_production(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {**os.environ, "SHIPLINE_PORT": str(port), "SHIPLINE_DEMO_DIR": str(tmp_path / "demo")}
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, start_new_session=True,
    )  # fmt: skip
    assert demo.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 180
    for line in demo.stdout:
        seen.append(line)
        if "Ctrl-C stops the server." in line or time.monotonic() > deadline:
            break
    output = "".join(seen)
    try:
        assert "remote: shipline: pipeline #1 (default) for main" in output, output
        assert "--- Deploy to staging: passed" in output, output
        assert "--- Deploy to production: paused — waiting for a manual trigger" in output
        assert "webshop#1: paused" in output
        token = output.split("admin token:")[1].split()[0]
        pipeline = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/repos/webshop/pipelines/1",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert pipeline["status"] == "paused"
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(30)
    assert code == 0
    assert "stopping the server" in demo.stdout.read()
    with socket.socket() as sock:  # the server is gone with the script
        assert sock.connect_ex(("127.0.0.1", port)) != 0
