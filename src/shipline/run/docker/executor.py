"""DockerExecutor: the step's script runs as the main process of a container of its image.

Services start first; the first service container owns the network namespace and the other
services and the step container join it, so every service is reached on `localhost` as on
Bitbucket, without an extra container. The step's workspace, Shipline's scripts and the
step's caches are bind-mounted from the host directories the engine prepared.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from shipline.errors import ExecutorError
from shipline.plan import ImageSpec, PipeCall, Plan, ServiceSpec, StepSpec
from shipline.run.docker import labels
from shipline.run.docker.client import connect, translated
from shipline.run.docker.docker_cli import static_docker_client
from shipline.run.docker.images import ensure_image
from shipline.run.docker.pipes import pipe_image, render_pipe
from shipline.run.docker.step_daemon import StepDaemon, sweep_step_daemons
from shipline.run.executor import OutputSink, StepJob, StepOutcome
from shipline.run.script import render_script, render_wrapper

CLONE_DIR = "/opt/atlassian/pipelines/agent/build"
META_DIR = "/opt/atlassian/pipelines/agent/shipline"
DEFAULT_IMAGE = "atlassian/default-image:4"
MIN_BUILD_MEMORY_MB = 1024
DOCKER_SOCKET_IN_STEP = "/var/run/docker.sock"
DOCKER_CLI_IN_STEP = "/usr/local/bin/docker"
# Scripts start under sh (every image has one) and switch to bash where the image has it.
PREFER_BASH = (
    'if [ -z "${SHIPLINE_BASH:-}" ] && command -v bash >/dev/null 2>&1; then\n'
    '  SHIPLINE_BASH=1 exec bash "$0"\n'
    "fi\n"
)


def docker_available() -> bool:
    """True when a Docker engine answers on DOCKER_HOST or the default socket."""
    try:
        connect(timeout=5).close()
    except ExecutorError:
        return False
    return True


def needs_docker(step: StepSpec) -> bool:
    """The docker service, asked for or implied by pipes (which run as containers)."""
    return step.docker or any(
        isinstance(entry, PipeCall) for entry in (*step.script, *step.after_script)
    )


def build_memory_mb(step: StepSpec) -> int:
    """Memory left for the build container once its services have theirs."""
    return step.memory_mb - sum(s.memory_mb for s in step.services)


def _read_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class _StepContainers:
    step: Container | None = None
    services: list[Container] = field(default_factory=list)
    daemon: StepDaemon | None = None


class DockerStep:
    """A started step container; `wait` streams its output and enforces max-time."""

    def __init__(self, job: StepJob, container: Container, output: OutputSink) -> None:
        self.job = job
        self.container = container
        self.output = output
        self._timed_out = threading.Event()
        self._cancelled = threading.Event()

    @property
    def ident(self) -> str:
        return f"container:{str(self.container.id)[:12]}"

    def _kill(self) -> None:
        with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
            self.container.kill()

    def cancel(self) -> None:
        self._cancelled.set()
        self._kill()

    def _on_deadline(self) -> None:
        self._timed_out.set()
        self._kill()

    def wait(self) -> StepOutcome:
        timer = threading.Timer(self.job.max_seconds, self._on_deadline)
        timer.daemon = True
        timer.start()
        try:
            with translated("reading the step's output"):
                for chunk in self.container.logs(stream=True, follow=True):
                    self.output(chunk)
                status = self.container.wait(timeout=None)
        finally:
            timer.cancel()
        meta = self.job.dirs.meta
        exit_code = _read_code(meta / "exit-code")
        if exit_code is None:
            exit_code = int(status.get("StatusCode", 137))
        after = _read_code(meta / "after-exit-code") if self.job.step.after_script else None
        oom = False
        if int(status.get("StatusCode", 0)) == 137 and not self._timed_out.is_set():
            # Only a SIGKILL can be the OOM killer; asking costs an API call per step.
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
                self.container.reload()
                oom = bool(self.container.attrs.get("State", {}).get("OOMKilled"))
        return StepOutcome(
            exit_code=exit_code,
            after_script_exit_code=after,
            timed_out=self._timed_out.is_set(),
            cancelled=self._cancelled.is_set() and not self._timed_out.is_set(),
            error="the step ran out of memory (OOM killed)" if oom else None,
        )


class DockerExecutor:
    """Runs steps in containers on a Docker engine through the Docker SDK."""

    name = "docker"

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        sweep: bool = True,
        host_daemon_for_docker: bool = False,
    ) -> None:
        """`host_daemon_for_docker`: steps using the docker service get this machine's daemon
        (trusted repositories only) instead of a daemon of their own."""
        self.client = client or connect()
        self.host_daemon_for_docker = host_daemon_for_docker
        self.swept: list[str] = []
        if sweep:
            self.swept = labels.sweep_leftovers(self.client) + sweep_step_daemons()
        self._containers: dict[str, _StepContainers] = {}
        self._images: set[str] = set()  # names known to be present during this run
        self._lock = threading.Lock()

    # ---- notes before running -------------------------------------------------------

    def preflight(self, plan: Plan) -> list[str]:
        notes: list[str] = []
        for step in plan.steps():
            left = build_memory_mb(step)
            if left < MIN_BUILD_MEMORY_MB:
                notes.append(
                    f"step '{step.name}': services need {step.memory_mb - left} MB of the "
                    f"{step.memory_mb} MB a size {step.size} step has, leaving {left} MB "
                    f"(at least {MIN_BUILD_MEMORY_MB} MB are needed); it will fail — use "
                    "a larger 'size' or smaller service 'memory'"
                )
            if needs_docker(step):
                where = (
                    "this machine's Docker daemon (trusted)"
                    if self.host_daemon_for_docker
                    else "a Docker daemon of its own"
                )
                why = "the docker service" if step.docker else "pipes"
                notes.append(f"step '{step.name}' uses {why}: {where}")
            for entry in (*step.script, *step.after_script):
                if isinstance(entry, PipeCall):
                    try:
                        pipe_image(entry.pipe)
                    except ExecutorError as exc:
                        notes.append(f"step '{step.name}': {exc}")
            if step.image is None:
                notes.append(
                    f"step '{step.name}' names no image; Bitbucket's default {DEFAULT_IMAGE} "
                    "is used"
                )
        return notes

    def mounts_absolute_paths(self, step: StepSpec) -> bool:
        return True

    # ---- lifecycle ------------------------------------------------------------------

    def prepare(self, job: StepJob) -> None:
        step = job.step
        left = build_memory_mb(step)
        if left < MIN_BUILD_MEMORY_MB:
            raise ExecutorError(
                f"services need {step.memory_mb - left} MB but a size {step.size} step has "
                f"{step.memory_mb} MB and the build container needs {MIN_BUILD_MEMORY_MB} MB"
            )
        image = step.image or ImageSpec(DEFAULT_IMAGE)
        self._ensure(image, job)
        services = [s for s in step.services if s.type != "docker"]
        for service in services:
            if service.image is None:
                raise ExecutorError(f"service '{service.name}' has no image")
            self._ensure(service.image, job)
        self._write_scripts(job)
        containers = _StepContainers()
        with self._lock:
            self._containers[step.id] = containers
        network_mode: str | None = None
        for service in services:
            container = self._start_service(step, service, network_mode)
            containers.services.append(container)
            network_mode = network_mode or f"container:{container.id}"
        docker_socket = None
        if needs_docker(step):
            if self.host_daemon_for_docker:
                docker_socket = self._host_socket()
            else:
                containers.daemon = StepDaemon()
                docker_socket = containers.daemon.start()
        containers.step = self._create_step_container(job, image, network_mode, left, docker_socket)

    def start(self, job: StepJob, output: OutputSink) -> DockerStep:
        with self._lock:
            container = self._containers[job.step.id].step
        if container is None:
            raise ExecutorError("the step container was not created")
        try:
            with translated(f"starting the container of step '{job.step.name}'"):
                container.start()
        except ExecutorError as exc:
            raise ExecutorError(self._dead_services(job) or str(exc)) from exc
        return DockerStep(job, container, output)

    def _dead_services(self, job: StepJob) -> str:
        """Why the step could not start, when a service it needs has already stopped."""
        with self._lock:
            containers = self._containers.get(job.step.id)
        if containers is None:
            return ""
        services = [s for s in job.step.services if s.type != "docker"]
        for service, container in zip(services, containers.services, strict=False):
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
                container.reload()
                state = container.attrs.get("State", {})
                if not state.get("Running", False):
                    tail = container.logs(tail=5).decode(errors="replace").strip()
                    said = f"; its last output: {tail}" if tail else "; it printed nothing"
                    return (
                        f"service '{service.name}' stopped (exit code {state.get('ExitCode')}) "
                        f"before the step started{said}"
                    )
        return ""

    def destroy(self, job: StepJob) -> None:
        with self._lock:
            containers = self._containers.pop(job.step.id, None)
        if containers is None:
            return
        self._keep_service_logs(job, containers)
        for container in [containers.step, *reversed(containers.services)]:
            if container is None:
                continue
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound):
                container.remove(force=True, v=True)
        if containers.daemon is not None:
            containers.daemon.stop()

    def _host_socket(self) -> Path:
        base_url = str(self.client.api.base_url)
        path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if not path.startswith("unix://"):
            raise ExecutorError(
                f"the host daemon is reached over {path}; only a unix socket can be given to "
                f"steps ({base_url})"
            )
        return Path(path.removeprefix("unix://"))

    @staticmethod
    def _keep_service_logs(job: StepJob, containers: _StepContainers) -> None:
        """Write each service's output beside the step's log before its container goes."""
        services = [s for s in job.step.services if s.type != "docker"]
        for service, container in zip(services, containers.services, strict=False):
            path = job.service_log_path(service.name)
            if path is None:
                continue
            with contextlib.suppress(docker.errors.APIError, docker.errors.NotFound, OSError):
                path.write_bytes(container.logs())
        if containers.daemon is not None:
            path = job.service_log_path("docker")
            if path is not None:
                with contextlib.suppress(OSError):
                    path.write_bytes((containers.daemon.root / "dockerd.log").read_bytes())

    # ---- helpers --------------------------------------------------------------------

    def _ensure(self, image: ImageSpec, job: StepJob) -> None:
        if image.name in self._images:
            return
        ensure_image(self.client, image, dict(job.env))
        with self._lock:
            self._images.add(image.name)

    def _write_scripts(self, job: StepJob) -> None:
        meta = job.dirs.meta
        passthrough = sorted(k for k in job.env if k.startswith("BITBUCKET_") or k == "CI")

        def pipe_command(pipe: PipeCall) -> str:
            return render_pipe(pipe, job.dirs.clone, CLONE_DIR, passthrough)

        script = render_script(job.step.script, executor="docker", pipe_command=pipe_command)
        (meta / "script.sh").write_text(PREFER_BASH + script)
        after = None
        if job.step.after_script:
            after_script = render_script(
                job.step.after_script, executor="docker", pipe_command=pipe_command
            )
            (meta / "after-script.sh").write_text(PREFER_BASH + after_script)
            after = f"{META_DIR}/after-script.sh"
        wrapper = render_wrapper(f"{META_DIR}/script.sh", after, META_DIR, "sh")
        (meta / "wrapper.sh").write_text(wrapper)

    def _name(self, step: StepSpec, role: str) -> str:
        return f"shipline-{step.id}-{role}-{uuid.uuid4().hex[:8]}"

    def _start_service(
        self, step: StepSpec, service: ServiceSpec, network_mode: str | None
    ) -> Container:
        assert service.image is not None
        options: dict[str, Any] = {
            "name": self._name(step, f"svc-{service.name}"),
            "environment": dict(service.variables),
            "labels": labels.labels_for(step.id, "service"),
            "mem_limit": f"{service.memory_mb}m",
            "detach": True,
        }
        if network_mode:
            options["network_mode"] = network_mode
        if service.image.run_as_user is not None:
            options["user"] = str(service.image.run_as_user)
        with translated(f"starting service '{service.name}'"):
            container: Container = self.client.containers.run(service.image.name, **options)
        return container

    def _create_step_container(
        self,
        job: StepJob,
        image: ImageSpec,
        network_mode: str | None,
        memory_mb: int,
        docker_socket: Path | None,
    ) -> Container:
        step = job.step
        user = str(image.run_as_user) if image.run_as_user is not None else "0"
        home = self._home_of(image)
        volumes = {
            str(job.dirs.clone): {"bind": CLONE_DIR, "mode": "rw"},
            str(job.dirs.meta): {"bind": META_DIR, "mode": "rw"},
        }
        for cache in step.caches:
            if cache.name == "docker":
                continue
            if cache.path.startswith("~"):
                rel = cache.path.removeprefix("~").lstrip("/")
                host = job.dirs.home / rel
                volumes[str(host)] = {"bind": f"{home}/{rel}", "mode": "rw"}
            elif cache.path.startswith("/"):
                host = job.dirs.absolute / cache.path.lstrip("/")
                volumes[str(host)] = {"bind": cache.path, "mode": "rw"}
            else:
                continue
            host.mkdir(parents=True, exist_ok=True)
        if image.run_as_user is not None:
            self._hand_over(job, image.run_as_user)
        env = dict(job.env)
        env["BITBUCKET_CLONE_DIR"] = CLONE_DIR
        if docker_socket is not None:
            volumes[str(docker_socket)] = {"bind": DOCKER_SOCKET_IN_STEP, "mode": "rw"}
            env["DOCKER_HOST"] = f"unix://{DOCKER_SOCKET_IN_STEP}"
            client_binary = static_docker_client()
            if client_binary is not None:
                volumes[str(client_binary)] = {"bind": DOCKER_CLI_IN_STEP, "mode": "ro"}
        options: dict[str, Any] = {
            "name": self._name(step, "step"),
            "command": ["sh", f"{META_DIR}/wrapper.sh"],
            "entrypoint": [],
            "environment": env,
            "working_dir": CLONE_DIR,
            "labels": labels.labels_for(step.id, "step"),
            "mem_limit": f"{memory_mb}m",
            "user": user,
            "volumes": volumes,
        }
        if network_mode:
            options["network_mode"] = network_mode
        with translated(f"creating the container of step '{step.name}'"):
            return self.client.containers.create(image.name, **options)

    def _home_of(self, image: ImageSpec) -> str:
        """HOME of the user the step runs as, read from the image's /etc/passwd."""
        uid = image.run_as_user or 0
        if uid == 0:
            return "/root"
        probe = None
        try:
            with translated("reading the image's users"):
                probe = self.client.containers.create(
                    image.name,
                    command=["true"],
                    entrypoint=[],
                    labels=labels.labels_for("probe", "probe"),
                )
                stream, _ = probe.get_archive("/etc/passwd")
                data = b"".join(stream)
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    member = archive.extractfile("passwd")
                    text = member.read().decode() if member else ""
        except ExecutorError:
            text = ""
        finally:
            if probe is not None:
                with contextlib.suppress(docker.errors.APIError):
                    probe.remove(force=True)
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) >= 6 and fields[2] == str(uid):
                return fields[5]
        return "/"

    @staticmethod
    def _hand_over(job: StepJob, uid: int) -> None:
        """Give the step's files to the user it runs as, so it can change what it was given."""
        for root in (job.dirs.clone, job.dirs.home, job.dirs.meta, job.dirs.absolute):
            for dirpath, dirnames, filenames in os.walk(root):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    with contextlib.suppress(OSError):
                        os.lchown(name, uid, uid)
