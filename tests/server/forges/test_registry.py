"""The forge registry: every forge by name, and each one's own signature verifies."""

from __future__ import annotations

import pytest

from shipline.server.forges import FORGES, WebhookEvent, forge_named

BODY = b'{"ref": "refs/heads/main"}'


def test_the_four_forges_are_registered_by_name() -> None:
    assert sorted(FORGES) == ["bitbucket", "gitea", "github", "gitlab"]
    for name, forge in FORGES.items():
        assert forge.name == name
        assert forge.title


def test_forge_named() -> None:
    assert forge_named("gitlab") is FORGES["gitlab"]
    assert forge_named("sourcehut") is None
    assert forge_named("") is None


@pytest.mark.parametrize("name", sorted(FORGES))
def test_what_a_forge_signs_it_verifies(name: str) -> None:
    forge = FORGES[name]
    headers = {key.lower(): value for key, value in forge.sign(BODY, "secret").items()}
    assert forge.verify(headers, BODY, "secret")
    assert not forge.verify(headers, BODY, "other secret")
    assert not forge.verify(headers, BODY, "")
    assert not forge.verify({}, BODY, "secret")


@pytest.mark.parametrize("name", sorted(FORGES))
def test_headers_must_arrive_lower_cased(name: str) -> None:
    # The caller lower-cases header names; a forge does not look for other spellings.
    forge = FORGES[name]
    assert not forge.verify(forge.sign(BODY, "secret"), BODY, "secret")


@pytest.mark.parametrize("name", sorted(FORGES))
def test_one_forge_does_not_accept_another_forges_signature(name: str) -> None:
    forge = FORGES[name]
    for other in FORGES.values():
        if other.name == name:
            continue
        headers = {key.lower(): value for key, value in other.sign(BODY, "secret").items()}
        # Gitea also sends GitHub's header, so GitHub accepts what Gitea signs; nothing else.
        expected = (name, other.name) == ("github", "gitea")
        assert forge.verify(headers, BODY, "secret") is expected


def test_webhook_events_are_values() -> None:
    event = WebhookEvent("github", None, "ping", note="x")
    assert event == WebhookEvent("github", None, "ping", note="x")
    assert hash(event) == hash(WebhookEvent("github", None, "ping", note="x"))
