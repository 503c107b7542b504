"""Labels on every object Shipline creates, and the sweep that removes a killed run's leftovers."""

from __future__ import annotations

import contextlib
import os
import socket

import docker
import docker.errors

MANAGED = "io.shipline.managed"
OWNER = "io.shipline.owner"  # host:pid of the Shipline process that created the object
STEP = "io.shipline.step"
ROLE = "io.shipline.role"  # step | service


def owner_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def labels_for(step_id: str, role: str) -> dict[str, str]:
    return {MANAGED: "true", OWNER: owner_id(), STEP: step_id, ROLE: role}


def pid_alive(pid: int) -> bool:
    """Does a process with this pid exist on this host (whoever owns it)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(owner: str) -> bool:
    """False when `owner` names a process on this host that no longer exists."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's objects are not ours to judge
    try:
        return pid_alive(int(pid_text))
    except ValueError:
        return False


def sweep_leftovers(client: docker.DockerClient) -> list[str]:
    """Remove containers and networks left by Shipline processes that no longer exist."""
    removed: list[str] = []
    for container in client.containers.list(
        all=True, filters={"label": f"{MANAGED}=true"}, ignore_removed=True
    ):
        owner = container.labels.get(OWNER, "")
        if owner_alive(owner):
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True, v=True)
            removed.append(str(container.name))
    for network in client.networks.list(filters={"label": f"{MANAGED}=true"}):
        if owner_alive(network.attrs.get("Labels", {}).get(OWNER, "")):
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            network.remove()
            removed.append(str(network.name))
    for volume in client.volumes.list(filters={"label": f"{MANAGED}=true"}):
        if owner_alive((volume.attrs.get("Labels") or {}).get(OWNER, "")):
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)
            removed.append(volume.name)
    return removed
