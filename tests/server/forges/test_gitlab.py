"""GitLab: X-Gitlab-Token verification, Push Hook / Tag Push Hook parsing, Idempotency-Key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipline.server.forges import ZERO_SHA, PushedRef, WebhookError
from shipline.server.forges.gitlab import GitLab

SECRET = "s3cr3t-token"
IDEMPOTENCY_KEY = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f"

gitlab = GitLab()


def delivery(
    data: dict[str, Any] | bytes, event: str = "Push Hook", secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    # Delivery headers as documented, including the ids that must not be taken as delivery id.
    headers = {
        "x-gitlab-event": event,
        "x-gitlab-instance": "https://gitlab.example.com",
        "x-gitlab-webhook-uuid": "02affd2d-2cba-4033-917d-ec22d5dc4b38",
        "x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e",
        "idempotency-key": IDEMPOTENCY_KEY,
        "user-agent": "GitLab/17.4.0",
    }
    headers.update({k.lower(): v for k, v in gitlab.sign(body, secret).items()})
    return headers, body


def test_sign_sends_the_secret_itself() -> None:
    assert gitlab.sign(b"{}", SECRET) == {"X-Gitlab-Token": SECRET}


def test_a_push_with_the_right_token_verifies_and_parses(payload: Any) -> None:
    headers, body = delivery(payload("gitlab_push"))
    assert gitlab.verify(headers, body, SECRET)
    event = gitlab.parse(headers, body)
    assert (event.forge, event.kind) == ("gitlab", "push")
    assert event.refs == (
        PushedRef(
            "refs/heads/master",
            "95790bf891e76fee5e1747ab589903a6a1f80f22",
            "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        ),
    )
    assert event.clone_url == "http://example.com/mike/diaspora.git"


def test_the_delivery_id_is_the_idempotency_key(payload: Any) -> None:
    headers, body = delivery(payload("gitlab_push"))
    assert gitlab.parse(headers, body).delivery_id == IDEMPOTENCY_KEY


def test_before_gitlab_17_4_there_is_no_delivery_id(payload: Any) -> None:
    # X-Gitlab-Event-UUID / X-Gitlab-Webhook-UUID change on retries: not usable as the id.
    headers, body = delivery(payload("gitlab_push"))
    del headers["idempotency-key"]
    assert gitlab.parse(headers, body).delivery_id is None


@pytest.mark.parametrize(
    "token", [None, "", "wrong", SECRET + " extra", SECRET.upper(), "s3cr3t-tokeñ"]
)
def test_anything_but_the_exact_token_fails(payload: Any, token: str | None) -> None:
    headers, body = delivery(payload("gitlab_push"))
    if token is None:
        del headers["x-gitlab-token"]
    else:
        headers["x-gitlab-token"] = token
    assert gitlab.verify(headers, body, SECRET) is False


def test_the_token_does_not_cover_the_body(payload: Any) -> None:
    # GitLab documents no body signature: a tampered body with the right token still verifies.
    headers, body = delivery(payload("gitlab_push"))
    assert gitlab.verify(headers, body + b" ", SECRET)


def test_an_empty_configured_secret_never_verifies(payload: Any) -> None:
    headers, body = delivery(payload("gitlab_push"), secret="")
    assert gitlab.verify(headers, body, "") is False


def test_a_tag_push(payload: Any) -> None:
    event = gitlab.parse(*delivery(payload("gitlab_tag_push"), event="Tag Push Hook"))
    assert event.refs == (
        PushedRef("refs/tags/v1.0.0", ZERO_SHA, "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"),
    )
    assert event.clone_url == "http://example.com/jsmith/example.git"


def test_an_annotated_tag_gives_the_commit_not_the_tag_object(payload: Any) -> None:
    data = payload("gitlab_tag_push")
    data["after"] = "1" * 40  # the tag object
    event = gitlab.parse(*delivery(data, event="Tag Push Hook"))
    assert event.refs[0].new == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"


def test_tag_deletion(payload: Any) -> None:
    data = payload("gitlab_tag_push")
    data.update(
        before="82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", after=ZERO_SHA, checkout_sha=None
    )
    event = gitlab.parse(*delivery(data, event="Tag Push Hook"))
    assert event.refs == (
        PushedRef("refs/tags/v1.0.0", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", ZERO_SHA),
    )


def test_branch_creation_and_deletion(payload: Any) -> None:
    created = payload("gitlab_push")
    created.update(ref="refs/heads/feature", before=ZERO_SHA)
    assert gitlab.parse(*delivery(created)).refs == (
        PushedRef("refs/heads/feature", ZERO_SHA, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
    )

    deleted = payload("gitlab_push")
    deleted.update(after=ZERO_SHA, checkout_sha=None, commits=[], total_commits_count=0)
    assert gitlab.parse(*delivery(deleted)).refs == (
        PushedRef("refs/heads/master", "95790bf891e76fee5e1747ab589903a6a1f80f22", ZERO_SHA),
    )


def test_a_system_hook_push_is_a_push(payload: Any) -> None:
    event = gitlab.parse(*delivery(payload("gitlab_push"), event="System Hook"))
    assert event.kind == "push"
    assert event.refs[0].ref == "refs/heads/master"


def test_the_deprecated_repository_url_is_a_fallback(payload: Any) -> None:
    data = payload("gitlab_push")
    del data["project"]
    assert gitlab.parse(*delivery(data)).clone_url == "http://example.com/mike/diaspora.git"
    del data["repository"]
    assert gitlab.parse(*delivery(data)).clone_url is None


@pytest.mark.parametrize("event", ["Issue Hook", "Merge Request Hook", "Pipeline Hook"])
def test_other_events_are_ignored_with_a_note(payload: Any, event: str) -> None:
    parsed = gitlab.parse(*delivery(payload("gitlab_issue"), event=event))
    assert parsed.kind == "ignored"
    assert parsed.note == f"GitLab '{event}' events start nothing"


def test_a_system_hook_that_is_not_a_push_is_ignored(payload: Any) -> None:
    parsed = gitlab.parse(*delivery({"event_name": "project_create"}, event="System Hook"))
    assert parsed.kind == "ignored"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ref", None, "'ref' is not a string (it is null)"),
        ("before", "xyz", "'before' is not a 40-hex commit id"),
        ("checkout_sha", "abc", "'checkout_sha' is not a 40-hex commit id"),
        ("project", "diaspora", "'project' is not an object (it is a string)"),
    ],
)
def test_a_malformed_push_names_the_field(
    payload: Any, field: str, value: object, message: str
) -> None:
    data = payload("gitlab_push")
    data[field] = value
    with pytest.raises(WebhookError) as raised:
        gitlab.parse(*delivery(data))
    assert message in str(raised.value)
    assert "GitLab 'Push Hook' payload" in str(raised.value)


def test_a_push_missing_a_field_says_which(payload: Any) -> None:
    data = payload("gitlab_push")
    del data["before"]
    with pytest.raises(WebhookError, match="'before' is missing"):
        gitlab.parse(*delivery(data))


@pytest.mark.parametrize("body", [b"not json", b"null", b"[]", b"{"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookError, match="GitLab 'Push Hook' payload is"):
        gitlab.parse(*delivery(body))


def test_a_delivery_without_event_header_is_refused(payload: Any) -> None:
    headers, body = delivery(payload("gitlab_push"))
    del headers["x-gitlab-event"]
    with pytest.raises(WebhookError, match="X-Gitlab-Event"):
        gitlab.parse(headers, body)


def test_a_system_hook_with_a_strange_object_kind_is_ignored() -> None:
    # Found by the property test: a list is not hashable, so it must not reach a set lookup.
    parsed = gitlab.parse(*delivery({"object_kind": []}, event="System Hook"))
    assert parsed.kind == "ignored"
