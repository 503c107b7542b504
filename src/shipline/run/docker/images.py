"""Make a step's or service's image available: local first, pull when missing."""

from __future__ import annotations

import docker
import docker.errors

from shipline.errors import ExecutorError
from shipline.plan import ImageSpec
from shipline.run.docker.client import translated


def _split(name: str) -> tuple[str, str]:
    """'repo:tag' → (repo, tag); a registry port ('host:5000/x') is not a tag."""
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, digest
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, "latest"


def ensure_image(
    client: docker.DockerClient, image: ImageSpec, env: dict[str, str] | None = None
) -> str:
    """Return the image's id, pulling it (with the image's credentials) when not present.

    Credentials may reference variables (`$DOCKER_PASSWORD`), as Bitbucket allows.
    """
    try:
        return str(client.images.get(image.name).id)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise ExecutorError(f"cannot inspect image {image.name}: {exc.explanation}") from exc
    auth = None
    if image.username and image.password:
        auth = {
            "username": _expand(image.username, env or {}),
            "password": _expand(image.password, env or {}),
        }
    repository, tag = _split(image.name)
    try:
        with translated(f"image {image.name} is not available locally and cannot be pulled"):
            pulled = client.images.pull(repository, tag=tag, auth_config=auth)
    except ExecutorError:
        raise
    return str(pulled.id)


def _expand(value: str, env: dict[str, str]) -> str:
    if value.startswith("$"):
        return env.get(value.lstrip("$").strip("{}"), value)
    return value
