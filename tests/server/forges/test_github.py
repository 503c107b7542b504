"""GitHub: X-Hub-Signature-256 verification, push/ping parsing, malformed deliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipline.server.forges import ZERO_SHA, PushedRef, WebhookError, forge_named
from shipline.server.forges.github import GitHub

SECRET = "It's a Secret to Everybody"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

github = GitHub()


def delivery(
    data: dict[str, Any] | bytes, event: str = "push", secret: str = SECRET
) -> tuple[dict[str, str], bytes]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "x-github-event": event,
        "x-github-delivery": DELIVERY,
        "content-type": "application/json",
    }
    headers.update({k.lower(): v for k, v in github.sign(body, secret).items()})
    return headers, body


def test_the_documented_test_vector_is_reproduced() -> None:
    # docs.github.com "Validating webhook deliveries" → "Testing the webhook payload validation".
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github.sign(b"Hello, World!", SECRET) == {"X-Hub-Signature-256": expected}
    assert github.verify({"x-hub-signature-256": expected}, b"Hello, World!", SECRET)


def test_a_signed_push_verifies_and_parses(payload: Any) -> None:
    headers, body = delivery(payload("github_push"))
    assert github.verify(headers, body, SECRET)
    event = github.parse(headers, body)
    assert event.forge == "github"
    assert event.kind == "push"
    assert event.delivery_id == DELIVERY
    assert event.refs == (
        PushedRef(
            "refs/heads/main",
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        ),
    )
    assert event.clone_url == "https://github.com/Codertocat/Hello-World.git"


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "no signature", "sha1 header", "not hex", "short", "empty"],
)
def test_anything_but_the_right_signature_fails(payload: Any, case: str) -> None:
    headers, body = delivery(payload("github_push"))
    secret = SECRET
    signature = headers["x-hub-signature-256"]
    if case == "wrong secret":
        secret = "another secret"
    elif case == "tampered body":
        body = body.replace(b"refs/heads/main", b"refs/heads/prod")
    elif case == "no signature":
        del headers["x-hub-signature-256"]
    elif case == "sha1 header":
        headers["x-hub-signature-256"] = "sha1=" + signature.removeprefix("sha256=")[:40]
    elif case == "not hex":
        headers["x-hub-signature-256"] = "sha256=" + "z" * 64
    elif case == "short":
        headers["x-hub-signature-256"] = signature[:-2]
    elif case == "empty":
        headers["x-hub-signature-256"] = ""
    assert github.verify(headers, body, secret) is False


def test_the_legacy_sha1_header_alone_is_not_enough(payload: Any) -> None:
    headers, body = delivery(payload("github_push"))
    headers["x-hub-signature"] = "sha1=" + "0" * 40
    del headers["x-hub-signature-256"]
    assert github.verify(headers, body, SECRET) is False


def test_an_empty_configured_secret_never_verifies(payload: Any) -> None:
    # Signed with an empty key, as a webhook without secret cannot be: still refused.
    headers, body = delivery(payload("github_push"), secret="")
    assert github.verify(headers, body, "") is False


def test_a_tag_push(payload: Any) -> None:
    data = payload("github_push")
    data.update(ref="refs/tags/v1.0", before=ZERO_SHA, created=True)
    event = github.parse(*delivery(data))
    assert event.refs == (
        PushedRef("refs/tags/v1.0", ZERO_SHA, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"),
    )


def test_branch_creation_and_deletion(payload: Any) -> None:
    created = payload("github_push")
    created.update(ref="refs/heads/feature", before=ZERO_SHA, created=True)
    assert github.parse(*delivery(created)).refs[0].old == ZERO_SHA

    # Shaped like the documented deletion example: after is zeros, head_commit null.
    deleted = payload("github_push")
    deleted.update(after=ZERO_SHA, deleted=True, head_commit=None, commits=[])
    event = github.parse(*delivery(deleted))
    assert event.refs == (
        PushedRef("refs/heads/main", "6113728f27ae82c7b1a177c8d03f9e96e0adf246", ZERO_SHA),
    )


def test_shas_are_normalised_to_lower_case(payload: Any) -> None:
    data = payload("github_push")
    data["after"] = data["after"].upper()
    assert github.parse(*delivery(data)).refs[0].new == data["after"].lower()


def test_ping(payload: Any) -> None:
    event = github.parse(*delivery(payload("github_ping"), event="ping"))
    assert event.kind == "ping"
    assert event.refs == ()
    assert "ping" in event.note


def test_other_events_are_ignored_with_a_note(payload: Any) -> None:
    event = github.parse(*delivery(payload("github_issues"), event="issues"))
    assert event.kind == "ignored"
    assert event.note == "GitHub 'issues' events start nothing"
    assert event.delivery_id == DELIVERY


def test_a_push_without_clone_url_has_none(payload: Any) -> None:
    data = payload("github_push")
    del data["repository"]["clone_url"]
    assert github.parse(*delivery(data)).clone_url is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ref": None}, "'ref' is not a string"),
        ({"before": "6113728"}, "'before' is not a 40-hex commit id"),
        ({"after": 42}, "'after' is not a string (it is a number)"),
        ({"ref": "main"}, "'ref' is not a full ref name"),
        ({"repository": {"clone_url": ["x"]}}, "'repository.clone_url' is not a string"),
    ],
)
def test_a_malformed_push_names_the_field(
    payload: Any, change: dict[str, Any], message: str
) -> None:
    data = payload("github_push")
    data.update(change)
    with pytest.raises(WebhookError, match="GitHub push payload") as raised:
        github.parse(*delivery(data))
    assert message in str(raised.value)


def test_a_push_missing_a_field_says_which(payload: Any) -> None:
    data = payload("github_push")
    del data["after"]
    with pytest.raises(WebhookError, match="'after' is missing"):
        github.parse(*delivery(data))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "is not JSON"),
        (b"payload=%7B%7D", "is not JSON"),
        (b"[1, 2]", "not an object (it is a list)"),
        (b'"push"', "not an object (it is a string)"),
        (b"\xff\xfe\xfa", "is not JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError) as raised:
        github.parse(*delivery(body))
    assert message in str(raised.value)


def test_a_delivery_without_event_header_is_refused(payload: Any) -> None:
    headers, body = delivery(payload("github_push"))
    del headers["x-github-event"]
    with pytest.raises(WebhookError, match="X-GitHub-Event"):
        github.parse(headers, body)


def test_no_delivery_header_gives_no_delivery_id(payload: Any) -> None:
    headers, body = delivery(payload("github_push"))
    del headers["x-github-delivery"]
    assert github.parse(headers, body).delivery_id is None


def test_registered_under_its_name() -> None:
    forge = forge_named("github")
    assert forge is not None
    assert (forge.name, forge.title) == ("github", "GitHub")
