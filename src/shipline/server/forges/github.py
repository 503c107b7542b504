"""GitHub webhooks: `X-Hub-Signature-256` verification and `push`/`ping` parsing.

Facts relied on (docs.github.com, "Webhook events and payloads" → Delivery headers,
"Validating webhook deliveries", "Best practices for using webhooks"):

- `X-GitHub-Event` names the event (`push`, `ping`, `issues`…).
- `X-GitHub-Delivery` is a GUID; "if you request a redelivery, the X-GitHub-Delivery header
  will be the same as in the original delivery". GitHub "does not automatically redeliver
  failed deliveries" ("Handling failed webhook deliveries"); redelivery is manual or by API.
- `X-Hub-Signature-256` is "sha256=" + the hex HMAC-SHA256 of the raw body keyed by the
  webhook secret, sent only when a secret is set. (`X-Hub-Signature`, SHA-1, is legacy and
  deliberately not accepted.)
- A `ping` is sent when the webhook is created, to show it is set up.
- The push payload has `ref` (full ref name), `before` and `after` (the commit before/after
  the push; all zeros when the ref was created/deleted) and `repository.clone_url`.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipline.server.forges.base import (
    IGNORED,
    PING,
    PUSH,
    PushedRef,
    WebhookError,
    WebhookEvent,
    header,
)
from shipline.server.forges.payload import decode_object
from shipline.server.forges.signatures import hex_signature_matches, hmac_sha256_hex

EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="


class GitHub:
    name = "github"
    title = "GitHub"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return hex_signature_matches(
            header(headers, SIGNATURE_HEADER), secret, body, prefix=SIGNATURE_PREFIX
        )

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-Hub-Signature-256": SIGNATURE_PREFIX + hmac_sha256_hex(secret, body)}

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        delivery_id = header(headers, DELIVERY_HEADER)
        event = header(headers, EVENT_HEADER)
        if event is None:
            raise WebhookError("GitHub delivery has no X-GitHub-Event header")
        payload = decode_object(body, f"GitHub {event} payload")
        if event == "ping":
            return WebhookEvent(
                self.name, delivery_id, PING, note="GitHub ping: the webhook reaches Shipline"
            )
        if event != "push":
            return WebhookEvent(
                self.name, delivery_id, IGNORED, note=f"GitHub '{event}' events start nothing"
            )
        ref = PushedRef(payload.full_ref("ref"), payload.sha("before"), payload.sha("after"))
        repository = payload.optional_child("repository")
        clone_url = repository.optional_text("clone_url") if repository else None
        return WebhookEvent(self.name, delivery_id, PUSH, refs=(ref,), clone_url=clone_url)
