"""The post-receive hook on its own: what it sends, and what the pusher sees when the
server cannot be reached (the push itself has succeeded by then)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

from shipline.server.hook import HOOK, install_hook

LINES = (
    "0" * 40 + " " + "a" * 40 + " refs/heads/main\n" + "b" * 40 + " " + "c" * 40 + " refs/tags/v1\n"
)

SENT = LINES.rstrip("\n")  # the hook reads stdin with $(cat), which drops the last newline


def _run_hook(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    repo = tmp_path / "repo.git"
    (repo / "hooks").mkdir(parents=True)
    install_hook(repo)
    env = {
        "PATH": os.environ["PATH"], "SHIPLINE_HOOK_PORT": str(port), "SHIPLINE_REPO": "shop",
        "SHIPLINE_HOOK_SECRET": "s3cret", "REMOTE_USER": "dev",
    }  # fmt: skip
    return subprocess.run(
        [str(repo / "hooks" / "post-receive")], input=LINES, capture_output=True, text=True,
        env=env, timeout=30, check=False,
    )  # fmt: skip


def test_the_hook_posts_the_lines_and_prints_the_answer(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(SENT.encode()):
                data += conn.recv(65536)
            received.append(data)
            body = b"shipline: pipeline #1 (default) for main: http://x/1\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=answer)
    thread.start()
    done = _run_hook(tmp_path, server.getsockname()[1])
    thread.join(10)
    server.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "shipline: pipeline #1 (default) for main: http://x/1\n"
    request = received[0].decode()
    assert request.startswith("POST /api/v1/internal/push HTTP/1.1\r\n")
    assert "X-Shipline-Hook: s3cret\r\n" in request
    assert "X-Shipline-Repo: shop\r\n" in request
    assert "X-Shipline-Pusher: dev\r\n" in request
    assert f"Content-Length: {len(SENT.encode())}\r\n" in request
    assert request.endswith("\r\n\r\n" + SENT)


def test_an_unreachable_server_is_said_plainly_and_the_hook_succeeds(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _run_hook(tmp_path, port)
    assert done.returncode == 0
    assert done.stdout == f"shipline: could not start pipelines: no server on port {port}\n"


def test_install_rewrites_an_old_hook_and_keeps_it_executable(tmp_path: Path) -> None:
    hook = tmp_path / "repo.git" / "hooks" / "post-receive"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/usr/bin/python -IS\n# an older Shipline's hook\n")
    install_hook(tmp_path / "repo.git")
    assert hook.read_text() == HOOK
    assert os.access(hook, os.X_OK)
