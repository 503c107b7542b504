"""Bitbucket Cloud webhooks: `X-Hub-Signature` verification and `repo:push` parsing.

Facts relied on (support.atlassian.com/bitbucket-cloud: "Event payloads", "Troubleshoot
webhooks", "Manage webhooks"; bitbucket.org/blog/enhanced-webhook-security):

- `X-Event-Key` names the event ("repo:push", "pullrequest:created"…).
- `X-Hook-UUID` is the UUID of the webhook (the same for every delivery, so never a delivery
  id); `X-Request-UUID` is "the UUID of the request"; `X-Attempt-Number` is "the number of
  times Bitbucket attempts to send the payload" — after a 5xx or a 10 s time-out Bitbucket
  resends up to two more times, and a manual "Resend request" counts as a further attempt of
  the same request. The docs do not state outright that the UUID is kept across attempts;
  since attempts are counted per request, X-Request-UUID is taken as the delivery id.
- With a webhook secret, `X-Hub-Signature` is "sha256=" + the hex HMAC-SHA256 of the raw body
  keyed by the secret. (Same header name as GitHub's legacy SHA-1 one, but SHA-256.)
- `push.changes[]` has one entry per updated ref, each with `old` and `new`, each
  `{type: "branch"|"tag", name, target: {hash}}`; `new` is null when the ref was deleted and
  `old` is null when it was created.
- The repository entity has `full_name` and `links.html.href` (a web page, not a clone URL).
- Bitbucket Cloud documents no ping/test event; `diagnostics:ping` is the "Test connection"
  event of Bitbucket Data Center, accepted here as a ping since it is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipline.server.forges.base import (
    IGNORED,
    PING,
    PUSH,
    ZERO_SHA,
    PushedRef,
    WebhookError,
    WebhookEvent,
    header,
)
from shipline.server.forges.payload import Payload, decode_object
from shipline.server.forges.signatures import hex_signature_matches, hmac_sha256_hex

EVENT_HEADER = "x-event-key"
DELIVERY_HEADER = "x-request-uuid"
SIGNATURE_HEADER = "x-hub-signature"
SIGNATURE_PREFIX = "sha256="

REF_PREFIXES = {"branch": "refs/heads/", "tag": "refs/tags/"}


class Bitbucket:
    name = "bitbucket"
    title = "Bitbucket Cloud"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return hex_signature_matches(
            header(headers, SIGNATURE_HEADER), secret, body, prefix=SIGNATURE_PREFIX
        )

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-Hub-Signature": SIGNATURE_PREFIX + hmac_sha256_hex(secret, body)}

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        delivery_id = header(headers, DELIVERY_HEADER)
        event = header(headers, EVENT_HEADER)
        if event is None:
            raise WebhookError("Bitbucket delivery has no X-Event-Key header")
        payload = decode_object(body, f"Bitbucket {event} payload")
        if event == "diagnostics:ping":
            return WebhookEvent(
                self.name, delivery_id, PING, note="Bitbucket test connection: the webhook works"
            )
        if event != "repo:push":
            return WebhookEvent(
                self.name, delivery_id, IGNORED, note=f"Bitbucket '{event}' events start nothing"
            )
        refs = tuple(_pushed_ref(change) for change in payload.child("push").children("changes"))
        if not refs:
            return WebhookEvent(
                self.name, delivery_id, IGNORED, note="The Bitbucket push changed no refs"
            )
        return WebhookEvent(self.name, delivery_id, PUSH, refs=refs, clone_url=_clone_url(payload))


def _pushed_ref(change: Payload) -> PushedRef:
    old = change.nullable_child("old")
    new = change.nullable_child("new")
    # The newer state names the ref; on a deletion only the old one is left.
    if new is not None:
        ref = _ref_name(new)
    elif old is not None:
        ref = _ref_name(old)
    else:
        raise change.problem("has neither an 'old' nor a 'new' ref")
    return PushedRef(
        ref,
        old.child("target").sha("hash") if old is not None else ZERO_SHA,
        new.child("target").sha("hash") if new is not None else ZERO_SHA,
    )


def _ref_name(state: Payload) -> str:
    kind = state.text("type")
    prefix = REF_PREFIXES.get(kind)
    if prefix is None:
        raise state.field_problem("type", f"is {kind[:40]!r}, not 'branch' or 'tag'")
    name = state.text("name")
    if not name:
        raise state.field_problem("name", "is empty")
    return prefix + name


def _clone_url(payload: Payload) -> str | None:
    # Webhook payloads carry only web links; a `links.clone` list (the REST API's repository
    # shape: [{name: "https", href}, ...]) is used if a payload ever includes one.
    repository = payload.optional_child("repository")
    links = repository.optional_child("links") if repository else None
    clones = links.raw("clone") if links else None
    if isinstance(clones, list):
        for clone in clones:
            if isinstance(clone, dict) and clone.get("name") == "https":
                href = clone.get("href")
                if isinstance(href, str) and href:
                    return href
    return None
