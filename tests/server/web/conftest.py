"""Web UI tests: a signed-in browser session on the in-process server."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

SignIn = Callable[..., TestClient]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def sign_in() -> SignIn:
    """sign_in(api, name="admin", secret=None) → a fresh TestClient signed in through /login."""

    def login(api: Any, name: str = "admin", secret: str | None = None) -> TestClient:
        client = TestClient(api.client.app)
        form = client.get("/login")
        assert form.status_code == 200
        answer = client.post(
            "/login",
            data={"name": name, "secret": secret or api.admin_token, "csrf": csrf_of(form.text),
                  "next": "/"},
            follow_redirects=False,
        )  # fmt: skip
        assert answer.status_code == 303, answer.text
        return client

    return login
