"""Bitbucket Cloud: X-Hub-Signature verification and repo:push changes, one ref per change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipline.server.forges import ZERO_SHA, PushedRef, WebhookError
from shipline.server.forges.bitbucket import Bitbucket
from shipline.server.forges.signatures import hmac_sha256_hex

SECRET = "bitbucket-webhook-secret"
REQUEST_UUID = "9d0cd1f9-6d36-4c4e-a4f3-5a3f8c0e2b11"

bitbucket = Bitbucket()


def delivery(
    data: dict[str, Any] | bytes, event: str = "repo:push", secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "x-event-key": event,
        "x-hook-uuid": "{a1b2c3d4-0000-4000-8000-000000000000}",
        "x-request-uuid": REQUEST_UUID,
        "x-attempt-number": "1",
        "user-agent": "Bitbucket-Webhooks/2.0",
    }
    headers.update({k.lower(): v for k, v in bitbucket.sign(body, secret).items()})
    return headers, body


def test_sign_is_sha256_in_x_hub_signature() -> None:
    assert bitbucket.sign(b"{}", SECRET) == {
        "X-Hub-Signature": "sha256=" + hmac_sha256_hex(SECRET, b"{}")
    }


def test_a_signed_push_with_two_changes_gives_two_refs(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    assert bitbucket.verify(headers, body, SECRET)
    event = bitbucket.parse(headers, body)
    assert (event.forge, event.kind, event.delivery_id) == ("bitbucket", "push", REQUEST_UUID)
    assert event.refs == (
        PushedRef(
            "refs/heads/master",
            "f438e1c1b456b7d9ff278991aaca24123e7a591c",
            "25f93d22b719e2d678a7ad5ee0ef0d1fcdf39c12",
        ),
        PushedRef("refs/tags/v1.0", ZERO_SHA, "25f93d22b719e2d678a7ad5ee0ef0d1fcdf39c12"),
    )
    # The payload only links to web pages: no clone URL.
    assert event.clone_url is None


def test_a_retry_keeps_the_request_uuid(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    retry = {**headers, "x-attempt-number": "2"}
    assert bitbucket.parse(retry, body).delivery_id == REQUEST_UUID


def test_the_hook_uuid_is_not_a_delivery_id(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    del headers["x-request-uuid"]
    assert bitbucket.parse(headers, body).delivery_id is None


@pytest.mark.parametrize(
    "case", ["wrong secret", "tampered body", "no signature", "sha1", "no prefix", "not hex"]
)
def test_anything_but_the_right_signature_fails(payload: Any, case: str) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    secret = SECRET
    digest = headers["x-hub-signature"].removeprefix("sha256=")
    if case == "wrong secret":
        secret = "not-the-secret"
    elif case == "tampered body":
        body = body.replace(b"master", b"mister")
    elif case == "no signature":
        del headers["x-hub-signature"]
    elif case == "sha1":
        headers["x-hub-signature"] = "sha1=" + digest
    elif case == "no prefix":
        headers["x-hub-signature"] = digest
    elif case == "not hex":
        headers["x-hub-signature"] = "sha256=" + "g" * 64
    assert bitbucket.verify(headers, body, secret) is False


def test_an_empty_configured_secret_never_verifies(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"), secret="")
    assert bitbucket.verify(headers, body, "") is False


def test_a_github_style_header_is_not_read(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    headers["x-hub-signature-256"] = headers.pop("x-hub-signature")
    assert bitbucket.verify(headers, body, SECRET) is False


def test_branch_deletion(payload: Any) -> None:
    event = bitbucket.parse(*delivery(payload("bitbucket_remove_branch")))
    assert event.refs == (
        PushedRef("refs/heads/feature/login", "25f93d22b719e2d678a7ad5ee0ef0d1fcdf39c12", ZERO_SHA),
    )


def test_branch_creation(payload: Any) -> None:
    data = payload("bitbucket_push")
    change = data["push"]["changes"][0]
    change.update(old=None, created=True)
    event = bitbucket.parse(*delivery(data))
    assert event.refs[0] == PushedRef(
        "refs/heads/master", ZERO_SHA, "25f93d22b719e2d678a7ad5ee0ef0d1fcdf39c12"
    )


def test_tag_deletion(payload: Any) -> None:
    data = payload("bitbucket_push")
    tag = data["push"]["changes"][1]
    tag.update(old=tag["new"], new=None, closed=True, created=False)
    event = bitbucket.parse(*delivery(data))
    assert event.refs[1] == PushedRef(
        "refs/tags/v1.0", "25f93d22b719e2d678a7ad5ee0ef0d1fcdf39c12", ZERO_SHA
    )


def test_a_push_without_changes_is_ignored(payload: Any) -> None:
    data = payload("bitbucket_push")
    data["push"]["changes"] = []
    event = bitbucket.parse(*delivery(data))
    assert event.kind == "ignored"
    assert event.note


def test_a_clone_link_is_used_when_a_payload_has_one(payload: Any) -> None:
    data = payload("bitbucket_push")
    data["repository"]["links"]["clone"] = [
        {"name": "ssh", "href": "git@bitbucket.org:kolaszek/repository-name.git"},
        {"name": "https", "href": "https://bitbucket.org/kolaszek/repository-name.git"},
    ]
    event = bitbucket.parse(*delivery(data))
    assert event.clone_url == "https://bitbucket.org/kolaszek/repository-name.git"


def test_other_events_are_ignored_with_a_note(payload: Any) -> None:
    event = bitbucket.parse(
        *delivery(payload("bitbucket_pullrequest_created"), event="pullrequest:created")
    )
    assert event.kind == "ignored"
    assert event.note == "Bitbucket 'pullrequest:created' events start nothing"


def test_the_data_center_test_connection_is_a_ping() -> None:
    event = bitbucket.parse(*delivery({"test": True}, event="diagnostics:ping"))
    assert event.kind == "ping"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("push"), "'push' is missing"),
        (lambda d: d["push"].pop("changes"), "'push.changes' is missing"),
        (lambda d: d["push"].update(changes={}), "'push.changes' is not a list"),
        (lambda d: d["push"]["changes"].append("x"), "'push.changes[2]' is not an object"),
        (lambda d: d["push"]["changes"][0].pop("old"), "'push.changes[0].old' is missing"),
        (
            lambda d: d["push"]["changes"][1].update(new=None),
            "'push.changes[1]' has neither an 'old' nor a 'new' ref",
        ),
        (
            lambda d: d["push"]["changes"][0]["new"].update(type="bookmark"),
            "'push.changes[0].new.type' is 'bookmark', not 'branch' or 'tag'",
        ),
        (
            lambda d: d["push"]["changes"][0]["new"].update(name=""),
            "'push.changes[0].new.name' is empty",
        ),
        (
            lambda d: d["push"]["changes"][0]["old"]["target"].pop("hash"),
            "'push.changes[0].old.target.hash' is missing",
        ),
        (
            lambda d: d["push"]["changes"][1]["new"]["target"].update(hash="25f93d2"),
            "'push.changes[1].new.target.hash' is not a 40-hex commit id",
        ),
    ],
)
def test_a_malformed_push_names_the_field(payload: Any, mutate: Any, message: str) -> None:
    data = payload("bitbucket_push")
    mutate(data)
    with pytest.raises(WebhookError) as raised:
        bitbucket.parse(*delivery(data))
    assert str(raised.value).startswith("Bitbucket repo:push payload: ")
    assert message in str(raised.value)


@pytest.mark.parametrize("body", [b"", b"<xml/>", b"true", b"[{}]"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookError, match="Bitbucket repo:push payload is"):
        bitbucket.parse(*delivery(body))


def test_a_delivery_without_event_key_is_refused(payload: Any) -> None:
    headers, body = delivery(payload("bitbucket_push"))
    del headers["x-event-key"]
    with pytest.raises(WebhookError, match="X-Event-Key"):
        bitbucket.parse(headers, body)
