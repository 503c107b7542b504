"""A Docker daemon of a step's own, for the `docker` service.

Each step that uses the docker service gets a separate `dockerd` process on the host with its
own data root, exec root and socket; the socket is bind-mounted into the step container as
/var/run/docker.sock. Images, containers and build cache of one step never meet another's,
and everything goes when the step ends. This isolates state, not privilege: whoever can
talk to a Docker daemon is root on its host, so only run pipelines you trust.

Running a daemon needs root. Privileged daemon-in-a-container ("dind") is deliberately not
used: it needs capabilities some hosts refuse, and a host process reaches the same
registries the host does. Each daemon gets a bridge of its own (`slb…`, a /24 from
10.213.0.0/16): a second daemon left to its defaults would delete the host daemon's docker0.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import docker
import docker.errors

from shipline.errors import ExecutorError
from shipline.run.docker.labels import owner_alive, owner_id, pid_alive

DEFAULT_ROOT = Path(os.environ.get("SHIPLINE_STEP_DAEMON_ROOT", "/var/lib/shipline/step-daemons"))
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
BRIDGE_PREFIX = "slb"
SUBNET_PREFIX = "10.213"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _used_subnets() -> set[int]:
    used: set[int] = set()
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        for word in line.split():
            if word.startswith(f"{SUBNET_PREFIX}."):
                with contextlib.suppress(ValueError, IndexError):
                    used.add(int(word.split(".")[2]))
    return used


def _create_bridge(base: Path, name: str) -> None:
    """Create bridge `name` on a free 10.213.N.0/24, serialised across processes."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".bridges.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        free = [n for n in range(1, 255) if n not in _used_subnets()]
        if not free:
            raise ExecutorError("no free subnet for a step's Docker daemon (254 in use)")
        for args in (
            ("link", "add", name, "type", "bridge"),
            ("addr", "add", f"{SUBNET_PREFIX}.{free[0]}.1/24", "dev", name),
            ("link", "set", name, "up"),
        ):
            result = _ip(*args)
            if result.returncode != 0:
                _ip("link", "del", name)
                raise ExecutorError(f"cannot create bridge {name}: {result.stderr.strip()}")


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p == prefix or p.startswith(prefix + "/")), reverse=True)


class StepDaemon:
    """One dockerd process serving one step."""

    def __init__(self, base: Path = DEFAULT_ROOT) -> None:
        self.root = base / f"{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.socket = self.root / "run" / "docker.sock"
        self.bridge = f"{BRIDGE_PREFIX}{uuid.uuid4().hex[:10]}"
        self._base = base
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Path:
        """Start the daemon and wait until it answers; return its socket path."""
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise ExecutorError("the docker service needs 'dockerd' on this machine")
        if os.geteuid() != 0:
            raise ExecutorError(
                "a step's own Docker daemon needs root; run Shipline as root, or give trusted "
                "repositories this machine's daemon (--docker-host-daemon)"
            )
        for sub in ("data", "exec", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "owner").write_text(owner_id())
        (self.root / "bridge").write_text(self.bridge)
        _create_bridge(self._base, self.bridge)
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - the daemon keeps it open
        self._process = subprocess.Popen(
            [
                dockerd,
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'run' / 'docker.pid'}",
                f"--host=unix://{self.socket}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip6tables=false",
                "--shutdown-timeout=2",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self.socket.exists():
                with contextlib.suppress(docker.errors.DockerException, OSError):
                    client = docker.DockerClient(base_url=f"unix://{self.socket}", timeout=5)
                    client.ping()
                    client.close()
                    return self.socket
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise ExecutorError(f"the step's Docker daemon did not start: {tail}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.root / "dockerd.log").read_text(errors="replace")
        except OSError:
            return "no log"
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the daemon (its containers with it) and remove all its files. Idempotent."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        remove_daemon_root(self.root)


def remove_daemon_root(root: Path) -> None:
    """Kill what a daemon root's pidfiles name, unmount what is left, delete the files."""
    for pidfile in (root / "run" / "docker.pid", *root.glob("exec/**/containerd.pid")):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    with contextlib.suppress(OSError):
        bridge = (root / "bridge").read_text().strip()
        if bridge.startswith(BRIDGE_PREFIX):
            _ip("link", "del", bridge)
    shutil.rmtree(root, ignore_errors=True)


def sweep_step_daemons(base: Path = DEFAULT_ROOT) -> list[str]:
    """Remove daemons left behind by Shipline processes that no longer exist."""
    removed: list[str] = []
    if not base.is_dir():
        return removed
    for root in base.iterdir():
        if not root.is_dir():
            continue
        try:
            owner = (root / "owner").read_text().strip()
        except OSError:
            owner = ""
        if owner and owner_alive(owner):
            continue
        if not owner and time.time() - root.stat().st_mtime < 60:
            continue  # being created right now by another process: its owner file comes next
        remove_daemon_root(root)
        removed.append(f"step daemon {root.name}")
    return removed
