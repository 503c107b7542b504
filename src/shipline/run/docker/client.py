"""Connect to the Docker engine; translate the SDK's errors into Shipline's at this boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
import docker.errors
import requests.exceptions

from shipline.errors import ExecutorError

_TRANSPORT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


def connect(timeout: float = 120.0) -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (default: the local socket)."""
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise ExecutorError(
            f"no Docker engine answers ({exc}); start one (scripts/docker-up) or use "
            "--executor shell"
        ) from exc
    return client


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise Docker SDK and transport errors as ExecutorError naming what we were doing."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ExecutorError(f"{action}: image not found ({exc.explanation})") from exc
    except docker.errors.APIError as exc:
        raise ExecutorError(f"{action}: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, *_TRANSPORT_ERRORS) as exc:
        raise ExecutorError(f"{action}: {exc}") from exc
