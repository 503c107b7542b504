"""Gitea webhooks: `X-Gitea-Signature` verification and `push` parsing.

Facts relied on (docs.gitea.com "Webhooks"; Gitea's services/webhook/deliver.go,
models/webhook/hooktask.go, routers/web/repo/setting/webhook.go, services/repository/push.go):

- `X-Gitea-Event` names the event ("push", "create", "delete", "pull_request"…);
  `X-Gitea-Delivery` is the UUID of the delivery task. Gitea also sends the same values as
  `X-Gogs-*` and `X-GitHub-*` headers.
- `X-Gitea-Signature` is the bare hex HMAC-SHA256 of the payload keyed by the secret (empty
  when no secret is set); the same digest is also sent as `X-Hub-Signature-256: sha256=…`.
  deliver.go signs the JSON payload; with the "application/x-www-form-urlencoded" content
  type the body is `payload=<json>` instead, so only the JSON content type can be verified.
- Gitea does not retry a failed delivery (deliver.go records it as failed). A task is marked
  delivered only after its request, so one interrupted by a restart is sent again with the
  same UUID; "Replay" in the settings copies the task under a new UUID (hooktask.go), so a
  replay is a new delivery.
- Push payloads look like GitHub's: `ref` (full), `before`, `after` (zeros for a created or
  deleted ref), `repository.clone_url`. Deleting a tag sends a push with `after` zeros;
  deleting a branch sends only a `delete` event, which names no commit.
- Gitea has no ping event. "Test Delivery" sends a `push` whose `before` equals its `after`
  (the latest commit, or an all-zero fake commit) — no real push ever looks like that.
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

EVENT_HEADER = "x-gitea-event"
DELIVERY_HEADER = "x-gitea-delivery"
SIGNATURE_HEADER = "x-gitea-signature"

NOTES = {
    "create": "Gitea 'create' events start nothing (the 'push' event for the same ref does)",
}


class Gitea:
    name = "gitea"
    title = "Gitea"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return hex_signature_matches(header(headers, SIGNATURE_HEADER), secret, body)

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        digest = hmac_sha256_hex(secret, body)
        return {"X-Gitea-Signature": digest, "X-Hub-Signature-256": "sha256=" + digest}

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        delivery_id = header(headers, DELIVERY_HEADER)
        event = header(headers, EVENT_HEADER)
        if event is None:
            raise WebhookError("Gitea delivery has no X-Gitea-Event header")
        if body.startswith(b"payload="):
            raise WebhookError(
                "Gitea sent a form-encoded body; set the webhook's POST content type to "
                "application/json"
            )
        payload = decode_object(body, f"Gitea {event} payload")
        if event == "delete":
            return self._deletion(payload, delivery_id)
        if event != "push":
            note = NOTES.get(event, f"Gitea '{event}' events start nothing")
            return WebhookEvent(self.name, delivery_id, IGNORED, note=note)
        ref = PushedRef(payload.full_ref("ref"), payload.sha("before"), payload.sha("after"))
        if ref.old == ref.new:
            return WebhookEvent(
                self.name,
                delivery_id,
                PING,
                note="Gitea test delivery: the webhook reaches Shipline (nothing was pushed)",
            )
        repository = payload.optional_child("repository")
        clone_url = repository.optional_text("clone_url") if repository else None
        return WebhookEvent(self.name, delivery_id, PUSH, refs=(ref,), clone_url=clone_url)

    def _deletion(self, payload: Payload, delivery_id: str | None) -> WebhookEvent:
        """Gitea reports a deleted branch or tag only as a `delete` event naming no commit:
        a push of the ref to nothing, so the mirror drops it too (and nothing runs)."""
        kind = payload.text("ref_type")
        prefix = {"branch": "refs/heads/", "tag": "refs/tags/"}.get(kind)
        if prefix is None:
            return WebhookEvent(
                self.name, delivery_id, IGNORED, note=f"Gitea deleted a {kind}: nothing to do"
            )
        name = payload.text("ref").removeprefix(prefix)
        ref = PushedRef(prefix + name, ZERO_SHA, ZERO_SHA)
        return WebhookEvent(self.name, delivery_id, PUSH, refs=(ref,))
