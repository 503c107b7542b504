"""Property tests: on any bytes and headers, `verify` returns a bool and `parse` either returns
an event or raises WebhookError — never anything else, and never a malformed PushedRef."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.server.forges import FORGES, WebhookError, WebhookEvent
from shipline.server.forges.base import Forge

PAYLOADS = Path(__file__).parent / "payloads"

# Per forge: the event names that reach different code paths, and the documented payloads.
EVENTS = {
    "github": ("x-github-event", ["push", "ping", "issues"]),
    "gitlab": ("x-gitlab-event", ["Push Hook", "Tag Push Hook", "System Hook", "Issue Hook"]),
    "bitbucket": ("x-event-key", ["repo:push", "diagnostics:ping", "pullrequest:created"]),
    "gitea": ("x-gitea-event", ["push", "delete", "create"]),
}
HEADER_NAMES = [
    "x-github-event",
    "x-github-delivery",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-gitlab-event",
    "x-gitlab-token",
    "idempotency-key",
    "x-event-key",
    "x-request-uuid",
    "x-gitea-event",
    "x-gitea-delivery",
    "x-gitea-signature",
]
DOCUMENTED = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in PAYLOADS.glob("*.json")
}

SHA = re.compile(r"[0-9a-f]{40}")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
headers_strategy = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(max_size=20), st.text(max_size=80), max_size=8
)
forges = st.sampled_from(sorted(FORGES)).map(lambda name: FORGES[name])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_payloads(draw: st.DrawFn, prefix: str = "") -> bytes:
    """A documented payload (named `prefix…`) with a few fields replaced or removed."""
    names = sorted(name for name in DOCUMENTED if name.startswith(prefix))
    data = copy.deepcopy(DOCUMENTED[draw(st.sampled_from(names))])
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        if not paths:
            break
        *parents, last = draw(st.sampled_from(paths))
        container = data
        for step in parents:
            container = container[step]
        if isinstance(container, dict) and draw(st.booleans()):
            del container[last]
        else:
            container[last] = draw(json_values)
    return json.dumps(data).encode()


bodies = (
    st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()) | mutated_payloads()
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Forge, dict[str, str], bytes]:
    forge = draw(forges)
    headers = draw(headers_strategy)
    event_header, event_names = EVENTS[forge.name]
    if draw(st.booleans()):
        # Half the time: this forge's own documented payloads under its own event names, so
        # the deeper push-parsing paths see mostly-valid payloads with a few fields broken.
        headers[event_header] = draw(st.sampled_from(event_names))
        return forge, headers, draw(mutated_payloads(prefix=forge.name))
    if draw(st.booleans()):
        headers[event_header] = draw(st.sampled_from(event_names) | st.text(max_size=20))
    return forge, headers, draw(bodies)


def _check_event(event: WebhookEvent, forge: Forge) -> None:
    assert isinstance(event, WebhookEvent)
    assert event.forge == forge.name
    assert event.kind in {"push", "ping", "ignored"}
    if event.kind == "push":
        assert event.refs
    for ref in event.refs:
        assert ref.ref.startswith("refs/")
        assert SHA.fullmatch(ref.old)
        assert SHA.fullmatch(ref.new)
    assert event.clone_url is None or isinstance(event.clone_url, str)
    assert event.delivery_id is None or isinstance(event.delivery_id, str)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_parse_returns_an_event_or_raises_webhook_error(
    delivery: tuple[Forge, dict[str, str], bytes],
) -> None:
    forge, headers, body = delivery
    try:
        event = forge.parse(headers, body)
    except WebhookError:
        return
    _check_event(event, forge)


@settings(max_examples=400, deadline=None)
@given(deliveries(), st.text(max_size=40))
def test_verify_always_returns_a_bool(
    delivery: tuple[Forge, dict[str, str], bytes], secret: str
) -> None:
    forge, headers, body = delivery
    assert isinstance(forge.verify(headers, body, secret), bool)


@settings(max_examples=200, deadline=None)
@given(forges, bodies, st.text(min_size=1, max_size=40))
def test_a_signed_body_verifies_and_any_other_body_does_not(
    forge: Forge, body: bytes, secret: str
) -> None:
    headers = {key.lower(): value for key, value in forge.sign(body, secret).items()}
    assert forge.verify(headers, body, secret)
    if forge.name != "gitlab":  # GitLab's token does not cover the body
        assert not forge.verify(headers, body + b"\n", secret)
    assert not forge.verify(headers, body, "")
