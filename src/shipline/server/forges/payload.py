"""Reading a delivery body: JSON bytes into an object whose every missing field is named.

Forge modules ask for the fields they rely on (`payload.text("ref")`, `payload.sha("after")`,
`payload.child("project")`); a field that is absent or of the wrong type raises WebhookError
with its dotted path, e.g. "GitLab push payload: 'project.git_http_url' is not a string".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from shipline.server.forges.base import WebhookError

_SHA1 = re.compile(r"[0-9a-fA-F]{40}")

T = TypeVar("T")

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "true or false",
}


def decode_object(body: bytes, what: str) -> Payload:
    """Parse `body` as a JSON object; `what` names it in errors ("GitHub push payload")."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise WebhookError(f"{what} is not usable JSON: it is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise WebhookError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError(f"{what} is JSON but not an object (it is {_kind(data)})")
    return Payload(data, what)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for python_type, name in _TYPE_NAMES.items():
        if isinstance(value, python_type):
            return name
    return "a number"


class Payload:
    """A JSON object from a delivery, with typed access to its fields."""

    def __init__(self, data: Mapping[str, object], what: str, path: str = "") -> None:
        self._data = data
        self._what = what
        self._path = path

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def problem(self, text: str) -> WebhookError:
        """An error about this object as a whole: "<what>: 'push.changes[0]' <text>"."""
        return WebhookError(f"{self._what}: '{self._path or '(the body)'}' {text}")

    def field_problem(self, key: str, text: str) -> WebhookError:
        """An error about one field: "<what>: 'push.changes[0].new.type' <text>"."""
        return WebhookError(f"{self._what}: '{self._name(key)}' {text}")

    def raw(self, key: str) -> object:
        """The field's value, or None when absent."""
        return self._data.get(key)

    def _required(self, key: str, expected: type[T]) -> T:
        if key not in self._data:
            raise self.field_problem(key, "is missing")
        value = self._data[key]
        if not isinstance(value, expected):
            raise self.field_problem(key, f"is not {_TYPE_NAMES[expected]} (it is {_kind(value)})")
        return value

    def text(self, key: str) -> str:
        return self._required(key, str)

    def optional_text(self, key: str) -> str | None:
        """A string field that may be absent or null; any other type is an error."""
        if self._data.get(key) is None:
            return None
        return self.text(key)

    def sha(self, key: str) -> str:
        """A 40-hex (SHA-1) commit id, lower-cased."""
        value = self.text(key)
        if not _SHA1.fullmatch(value):
            raise self.field_problem(key, f"is not a 40-hex commit id: {value[:80]!r}")
        return value.lower()

    def optional_sha(self, key: str) -> str | None:
        if self._data.get(key) is None:
            return None
        return self.sha(key)

    def full_ref(self, key: str) -> str:
        """A full ref name such as "refs/heads/main"."""
        value = self.text(key)
        if not value.startswith("refs/") or len(value) == len("refs/"):
            raise self.field_problem(
                key, f"is not a full ref name like 'refs/heads/main': {value[:80]!r}"
            )
        return value

    def child(self, key: str) -> Payload:
        value: dict[str, Any] = self._required(key, dict)
        return Payload(value, self._what, self._name(key))

    def optional_child(self, key: str) -> Payload | None:
        """An object field that may be absent or null."""
        if self._data.get(key) is None:
            return None
        return self.child(key)

    def nullable_child(self, key: str) -> Payload | None:
        """An object field that must be present but may be null."""
        if key not in self._data:
            raise self.field_problem(key, "is missing")
        return self.optional_child(key)

    def children(self, key: str) -> list[Payload]:
        """A list of objects, each named by its index in errors ("push.changes[1]")."""
        items: list[object] = self._required(key, list)
        result = []
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if not isinstance(item, dict):
                raise self.field_problem(where, f"is not an object (it is {_kind(item)})")
            result.append(Payload(item, self._what, self._name(where)))
        return result
