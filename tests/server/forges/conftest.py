"""Forge webhook tests: payloads shaped as each forge documents them, loaded fresh per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

PAYLOADS = Path(__file__).parent / "payloads"

LoadPayload = Callable[[str], dict[str, Any]]


@pytest.fixture
def payload() -> LoadPayload:
    """`payload("github_push")` → a fresh dict from payloads/github_push.json."""

    def load(name: str) -> dict[str, Any]:
        data = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    return load
