"""Forge webhooks, pure: verify a delivery's secret and read which refs it pushed.

Each forge module knows one dialect (headers, signature scheme, payload shape) and cites the
documentation it follows. Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

from shipline.server.forges.base import (
    ZERO_SHA,
    Forge,
    PushedRef,
    WebhookError,
    WebhookEvent,
)
from shipline.server.forges.bitbucket import Bitbucket
from shipline.server.forges.gitea import Gitea
from shipline.server.forges.github import GitHub
from shipline.server.forges.gitlab import GitLab

_ALL: tuple[Forge, ...] = (GitHub(), GitLab(), Bitbucket(), Gitea())

FORGES: dict[str, Forge] = {forge.name: forge for forge in _ALL}


def forge_named(name: str) -> Forge | None:
    """The forge called `name` ("github", "gitlab", "bitbucket", "gitea"), or None."""
    return FORGES.get(name)


__all__ = [
    "FORGES",
    "ZERO_SHA",
    "Forge",
    "PushedRef",
    "WebhookError",
    "WebhookEvent",
    "forge_named",
]
