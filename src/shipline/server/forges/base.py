"""What every forge module returns: the refs a delivery pushed, and the contract a forge keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from shipline.errors import ShiplineError

ZERO_SHA = "0" * 40

PUSH = "push"
PING = "ping"
IGNORED = "ignored"


@dataclass(frozen=True)
class PushedRef:
    ref: str  # full ref name: "refs/heads/main" or "refs/tags/v1.0"
    old: str  # 40-hex commit, ZERO_SHA when the ref was created
    new: str  # 40-hex commit, ZERO_SHA when the ref was deleted


@dataclass(frozen=True)
class WebhookEvent:
    forge: str  # "github", "gitlab", "bitbucket", "gitea"
    delivery_id: str | None  # the id that stays the same when the forge redelivers the same event
    kind: str  # "push" (refs below), "ping" (a test/ping event), or "ignored"
    refs: tuple[PushedRef, ...] = ()
    clone_url: str | None = None  # where the payload says the repository can be cloned, if it says
    note: str = ""  # for "ignored"/"ping": one human sentence why


class WebhookError(ShiplineError):
    """The delivery is malformed: not JSON, or a push without the fields its forge documents."""


class Forge(Protocol):
    """One forge's webhook dialect; `headers` always arrive with lower-case names."""

    name: str
    title: str

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        """True only if `body` is authenticated by `secret`; never raises, never accepts ''."""
        ...

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Read a delivery; raises WebhookError (only) when it is malformed."""
        ...

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """The headers this forge would send to authenticate `body` with `secret`."""
        ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value with surrounding blanks removed; None when absent or empty."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None
