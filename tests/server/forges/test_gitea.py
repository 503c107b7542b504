"""Gitea: X-Gitea-Signature verification, push parsing, test deliveries as pings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipline.server.forges import ZERO_SHA, PushedRef, WebhookError
from shipline.server.forges.gitea import Gitea
from shipline.server.forges.signatures import hmac_sha256_hex

SECRET = "gitea-secret"
DELIVERY = "f6266f16-1bf3-46a5-9ea4-602e06ead473"

gitea = Gitea()


def delivery(
    data: dict[str, Any] | bytes, event: str = "push", secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    # As in the documented example: the same id and event under three header families.
    headers = {
        "x-github-delivery": DELIVERY,
        "x-github-event": event,
        "x-gogs-delivery": DELIVERY,
        "x-gogs-event": event,
        "x-gitea-delivery": DELIVERY,
        "x-gitea-event": event,
        "x-gitea-event-type": event,
    }
    headers.update({k.lower(): v for k, v in gitea.sign(body, secret).items()})
    return headers, body


def test_sign_sends_the_bare_hex_digest_and_the_github_style_copy() -> None:
    digest = hmac_sha256_hex(SECRET, b"{}")
    assert gitea.sign(b"{}", SECRET) == {
        "X-Gitea-Signature": digest,
        "X-Hub-Signature-256": "sha256=" + digest,
    }


def test_a_signed_push_verifies_and_parses(payload: Any) -> None:
    headers, body = delivery(payload("gitea_push"))
    assert gitea.verify(headers, body, SECRET)
    event = gitea.parse(headers, body)
    assert (event.forge, event.kind, event.delivery_id) == ("gitea", "push", DELIVERY)
    assert event.refs == (
        PushedRef(
            "refs/heads/develop",
            "28e1879d029cb852e4844d9c718537df08844e03",
            "bffeb74224043ba2feb48d137756c8a9331c449a",
        ),
    )
    assert event.clone_url == "http://localhost:3000/gitea/webhooks.git"


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "no signature", "empty", "prefixed", "sha1", "not hex"],
)
def test_anything_but_the_right_signature_fails(payload: Any, case: str) -> None:
    headers, body = delivery(payload("gitea_push"))
    secret = SECRET
    digest = headers["x-gitea-signature"]
    if case == "wrong secret":
        secret = "other"
    elif case == "tampered body":
        body = body.replace(b"develop", b"release")
    elif case == "no signature":
        del headers["x-gitea-signature"]
    elif case == "empty":  # what Gitea sends for a webhook without secret
        headers["x-gitea-signature"] = ""
    elif case == "prefixed":
        headers["x-gitea-signature"] = "sha256=" + digest
    elif case == "sha1":
        headers["x-gitea-signature"] = digest[:40]
    elif case == "not hex":
        headers["x-gitea-signature"] = "-" * 64
    assert gitea.verify(headers, body, secret) is False


def test_an_empty_configured_secret_never_verifies(payload: Any) -> None:
    headers, body = delivery(payload("gitea_push"), secret="")
    assert gitea.verify(headers, body, "") is False


def test_upper_case_hex_is_accepted(payload: Any) -> None:
    headers, body = delivery(payload("gitea_push"))
    headers["x-gitea-signature"] = headers["x-gitea-signature"].upper()
    assert gitea.verify(headers, body, SECRET)


def test_a_tag_push_and_a_tag_deletion(payload: Any) -> None:
    data = payload("gitea_push")
    data.update(ref="refs/tags/v1.0", before=ZERO_SHA, commits=[])
    assert gitea.parse(*delivery(data)).refs == (
        PushedRef("refs/tags/v1.0", ZERO_SHA, "bffeb74224043ba2feb48d137756c8a9331c449a"),
    )
    data.update(before="bffeb74224043ba2feb48d137756c8a9331c449a", after=ZERO_SHA)
    assert gitea.parse(*delivery(data)).refs == (
        PushedRef("refs/tags/v1.0", "bffeb74224043ba2feb48d137756c8a9331c449a", ZERO_SHA),
    )


def test_branch_creation(payload: Any) -> None:
    data = payload("gitea_push")
    data.update(ref="refs/heads/feature", before=ZERO_SHA)
    assert gitea.parse(*delivery(data)).refs[0].old == ZERO_SHA


def test_a_branch_deletion_arrives_as_a_delete_event_naming_no_commit(payload: Any) -> None:
    event = gitea.parse(*delivery(payload("gitea_delete"), event="delete"))
    assert event.kind == "push"
    assert event.refs == (PushedRef("refs/heads/feature/login", ZERO_SHA, ZERO_SHA),)


def test_a_deleted_tag_and_an_unknown_ref_type(payload: Any) -> None:
    data = payload("gitea_delete")
    data.update(ref="v1.0", ref_type="tag")
    assert gitea.parse(*delivery(data, event="delete")).refs[0].ref == "refs/tags/v1.0"
    data.update(ref_type="wiki")
    assert gitea.parse(*delivery(data, event="delete")).kind == "ignored"


@pytest.mark.parametrize("sha", ["bffeb74224043ba2feb48d137756c8a9331c449a", ZERO_SHA])
def test_a_test_delivery_is_a_ping(payload: Any, sha: str) -> None:
    # "Test Delivery" sends a push whose before equals after (latest commit or a fake zero one).
    data = payload("gitea_push")
    data.update(ref="refs/heads/master", before=sha, after=sha)
    event = gitea.parse(*delivery(data))
    assert event.kind == "ping"
    assert event.refs == ()


@pytest.mark.parametrize("event", ["issues", "pull_request", "create", "release"])
def test_other_events_are_ignored_with_a_note(payload: Any, event: str) -> None:
    parsed = gitea.parse(*delivery(payload("gitea_delete"), event=event))
    assert parsed.kind == "ignored"
    assert f"Gitea '{event}' events start nothing" in parsed.note


def test_a_form_encoded_body_says_how_to_fix_it(payload: Any) -> None:
    with pytest.raises(WebhookError, match="application/json"):
        gitea.parse(*delivery(b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ref", 7, "'ref' is not a string (it is a number)"),
        ("ref", "develop", "'ref' is not a full ref name"),
        ("after", "bffeb74", "'after' is not a 40-hex commit id"),
        ("repository", [], "'repository' is not an object (it is a list)"),
    ],
)
def test_a_malformed_push_names_the_field(
    payload: Any, field: str, value: object, message: str
) -> None:
    data = payload("gitea_push")
    data[field] = value
    with pytest.raises(WebhookError) as raised:
        gitea.parse(*delivery(data))
    assert message in str(raised.value)
    assert str(raised.value).startswith("Gitea push payload")


def test_a_sha256_repository_is_refused_clearly(payload: Any) -> None:
    data = payload("gitea_push")
    data["after"] = "ab" * 32
    with pytest.raises(WebhookError, match="40-hex"):
        gitea.parse(*delivery(data))


@pytest.mark.parametrize("body", [b"{]", b"1", b"\x00\x01"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookError, match="Gitea push payload is"):
        gitea.parse(*delivery(body))


def test_a_delivery_without_event_header_is_refused(payload: Any) -> None:
    headers, body = delivery(payload("gitea_push"))
    del headers["x-gitea-event"]
    with pytest.raises(WebhookError, match="X-Gitea-Event"):
        gitea.parse(headers, body)
