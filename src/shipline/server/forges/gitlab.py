"""GitLab webhooks: `X-Gitlab-Token` verification and `Push Hook`/`Tag Push Hook` parsing.

Facts relied on (docs.gitlab.com, user/project/integrations/webhooks.md → "Delivery headers"
and webhook_events.md; GitLab's app/services/web_hook_service.rb and
lib/gitlab/web_hooks/recursion_detection/uuid.rb):

- The secret token is sent as-is in `X-Gitlab-Token`; there is no signature of the body, so
  the check is an equality test (done in constant time).
- `X-Gitlab-Event` is "<EVENT> Hook": "Push Hook", "Tag Push Hook", "Merge Request Hook"…;
  system hooks send "System Hook" (with the same push payload, from the same data builder).
- `Idempotency-Key` (GitLab 17.4+) is a "unique ID consistent across webhook retries", and a
  "Resend Request" reuses it. Nothing older can stand in for it: `X-Gitlab-Event-UUID` is
  shared by recursive webhooks (docs) and made afresh per request and hook (source), so a
  retry gets a new one; `X-Gitlab-Webhook-UUID` is a new random UUID on every request. So
  GitLab before 17.4 gives no delivery id.
- The push payload has `object_kind` ("push"/"tag_push"), `ref`, `before`, `after`,
  `checkout_sha` (the commit; for a tag the commit it points at; null when the ref is deleted)
  and `project.git_http_url` (`repository.git_http_url` is the deprecated copy).
- "Test" in the webhook settings sends an ordinary push payload built from the latest commits,
  so it cannot be told apart from a push and is treated as one.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipline.server.forges.base import (
    IGNORED,
    PUSH,
    ZERO_SHA,
    PushedRef,
    WebhookError,
    WebhookEvent,
    header,
)
from shipline.server.forges.payload import Payload, decode_object
from shipline.server.forges.signatures import token_matches

EVENT_HEADER = "x-gitlab-event"
TOKEN_HEADER = "x-gitlab-token"
DELIVERY_HEADER = "idempotency-key"

PUSH_HOOKS = frozenset({"Push Hook", "Tag Push Hook"})
PUSH_KINDS = frozenset({"push", "tag_push"})


class GitLab:
    name = "gitlab"
    title = "GitLab"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        # The raw value: the token is compared exactly, surrounding blanks included.
        return token_matches(headers.get(TOKEN_HEADER), secret)

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-Gitlab-Token": secret}

    def parse(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        delivery_id = header(headers, DELIVERY_HEADER)
        event = header(headers, EVENT_HEADER)
        if event is None:
            raise WebhookError("GitLab delivery has no X-Gitlab-Event header")
        payload = decode_object(body, f"GitLab '{event}' payload")
        kind = payload.raw("object_kind")
        is_push = event in PUSH_HOOKS or (
            event == "System Hook" and isinstance(kind, str) and kind in PUSH_KINDS
        )
        if not is_push:
            return WebhookEvent(
                self.name, delivery_id, IGNORED, note=f"GitLab '{event}' events start nothing"
            )
        ref = _pushed_ref(payload)
        return WebhookEvent(
            self.name, delivery_id, PUSH, refs=(ref,), clone_url=_clone_url(payload)
        )


def _pushed_ref(payload: Payload) -> PushedRef:
    ref = payload.full_ref("ref")
    before = payload.sha("before")
    after = payload.sha("after")
    # For an annotated tag `after` is the tag object; checkout_sha is the commit it points at.
    checkout = payload.optional_sha("checkout_sha")
    new = ZERO_SHA if after == ZERO_SHA else (checkout or after)
    return PushedRef(ref, before, new)


def _clone_url(payload: Payload) -> str | None:
    for key in ("project", "repository"):
        section = payload.optional_child(key)
        url = section.optional_text("git_http_url") if section else None
        if url:
            return url
    return None
