"""Report pipeline progress to the forge hosting the commit, through its commit status API.

`status_request` builds the one HTTP request a forge documents (pure, so it is tested
exactly); `send_status` sends it and turns every way it can go wrong — a refusal, an
unreachable or silent server — into a `CommitStatusError` that names the forge, the HTTP
status and the forge's own words, and never the token.
"""

from __future__ import annotations

import httpx

from shipline.server.commit_status import bitbucket, gitea, github, gitlab
from shipline.server.commit_status.base import (
    CommitStatusError,
    Forge,
    StatusRequest,
    StatusState,
    StatusTarget,
    decode_json,
    one_line,
    plain_text,
    redact,
)

_FORGES: dict[str, Forge] = {
    forge.name: forge for forge in (github.FORGE, gitlab.FORGE, bitbucket.FORGE, gitea.FORGE)
}

FORGE_NAMES: tuple[str, ...] = tuple(_FORGES)


def _forge(name: str) -> Forge:
    forge = _FORGES.get(name)
    if forge is None:
        raise CommitStatusError(
            f"unknown forge {name!r}; Shipline reports commit statuses to " + ", ".join(FORGE_NAMES)
        )
    return forge


def status_request(
    target: StatusTarget, commit: str, state: StatusState, target_url: str, description: str
) -> StatusRequest:
    """The request that sets `state` on `commit` in `target`'s forge; raises
    CommitStatusError when an input cannot work there."""
    forge = _forge(target.forge)
    try:
        state = StatusState(state)
    except ValueError:
        known = ", ".join(s.value for s in StatusState)
        raise CommitStatusError(
            f"unknown commit status state {state!r}; expected one of {known}", forge=forge.name
        ) from None
    return forge.build(target, commit.strip(), state, target_url.strip(), description)


def send_status(
    target: StatusTarget,
    commit: str,
    state: StatusState,
    target_url: str,
    description: str,
    client: httpx.Client | None = None,
    timeout: float = 10.0,
) -> None:
    """Set `state` on `commit`; returns when the forge accepted it (any 2xx), raises
    CommitStatusError otherwise. `timeout` (seconds) applies even to a given `client`."""
    forge = _forge(target.forge)
    request = status_request(target, commit, state, target_url, description)
    try:
        if client is None:
            with httpx.Client() as own:
                response = _send(own, request, timeout)
        else:
            response = _send(client, request, timeout)
    except httpx.TimeoutException:
        raise CommitStatusError(
            f"{forge.title} did not answer within {timeout:g} s at {request.url}; "
            "the commit status was not reported",
            forge=forge.name,
        ) from None
    except httpx.ConnectError as exc:
        raise CommitStatusError(
            f"could not connect to {forge.title} at {request.url} "
            f"({redact(str(exc), target.token) or 'connection failed'}); "
            "the commit status was not reported",
            forge=forge.name,
        ) from None
    except httpx.HTTPError as exc:
        reason = redact(str(exc), target.token) or type(exc).__name__
        raise CommitStatusError(
            f"sending the commit status to {forge.title} at {request.url} failed: {reason}",
            forge=forge.name,
        ) from None
    if response.is_success:
        return
    raise _refusal(forge, target, commit, response)


def _send(client: httpx.Client, request: StatusRequest, timeout: float) -> httpx.Response:
    # Redirects are not followed: a moved API root is a configuration error to report, and
    # a POST with credentials should not wander to another host.
    return client.request(
        request.method,
        request.url,
        headers=request.headers,
        json=request.json,
        timeout=timeout,
        follow_redirects=False,
    )


def _refusal(
    forge: Forge, target: StatusTarget, commit: str, response: httpx.Response
) -> CommitStatusError:
    body = response.content
    decoded = decode_json(body)
    text = (forge.error_text(decoded) if decoded is not None else None) or plain_text(body)
    status = f"HTTP {response.status_code}"
    if response.reason_phrase:
        status += f" {response.reason_phrase}"
    where = f"{target.project}@{commit.strip()[:12]}"
    message = f"{forge.title} refused the commit status for {where} ({status})"
    if text:
        message += f": {one_line(text)}"
    return CommitStatusError(
        redact(message, target.token), forge=forge.name, status_code=response.status_code
    )


__all__ = [
    "FORGE_NAMES",
    "CommitStatusError",
    "StatusRequest",
    "StatusState",
    "StatusTarget",
    "send_status",
    "status_request",
]
