"""Reading delivery bodies: JSON decoding errors and field errors that name the field."""

from __future__ import annotations

import pytest

from shipline.server.forges import WebhookError
from shipline.server.forges.payload import decode_object


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "X payload is not JSON: Expecting value"),
        (b"{'a': 1}", "X payload is not JSON"),
        (b"\xff\xff", "X payload is not JSON"),
        (b"null", "X payload is JSON but not an object (it is null)"),
        (b"3.5", "X payload is JSON but not an object (it is a number)"),
        (b"false", "X payload is JSON but not an object (it is true or false)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"n": ' + b"9" * 5000 + b"}", "X payload is not JSON"),
    ],
)
def test_bodies_that_are_not_json_objects(body: bytes, message: str) -> None:
    with pytest.raises(WebhookError) as raised:
        decode_object(body, "X payload")
    assert message in str(raised.value)


def test_a_utf8_bom_is_accepted() -> None:
    assert decode_object(b'\xef\xbb\xbf{"ref": "refs/heads/a"}', "X").text("ref") == "refs/heads/a"


def test_field_errors_carry_the_dotted_path() -> None:
    payload = decode_object(b'{"a": {"b": [{"c": 1}], "d": [{}, 2]}, "s": "x"}', "X payload")
    item = payload.child("a").children("b")[0]
    with pytest.raises(WebhookError, match=r"^X payload: 'a\.b\[0\]\.c' is not a string"):
        item.text("c")
    with pytest.raises(WebhookError, match=r"'a\.d\[1\]' is not an object \(it is a number\)"):
        payload.child("a").children("d")
    with pytest.raises(WebhookError, match=r"'a\.missing' is missing"):
        payload.child("a").child("missing")
    with pytest.raises(WebhookError, match=r"'s' is not an object \(it is a string\)"):
        payload.child("s")
    with pytest.raises(WebhookError, match=r"^X payload: 'a\.b\[0\]' has no ref$"):
        raise item.problem("has no ref")


def test_optional_fields() -> None:
    payload = decode_object(b'{"n": null, "s": "x", "o": {}}', "X")
    assert payload.optional_text("n") is None
    assert payload.optional_text("absent") is None
    assert payload.optional_text("s") == "x"
    assert payload.optional_child("n") is None
    assert payload.optional_child("o") is not None
    assert payload.nullable_child("n") is None
    with pytest.raises(WebhookError, match="'absent' is missing"):
        payload.nullable_child("absent")
    with pytest.raises(WebhookError, match="'s' is not an object"):
        payload.optional_child("s")


def test_a_sha_is_forty_hex_digits_lower_cased() -> None:
    payload = decode_object(b'{"a": "' + b"AB" * 20 + b'", "b": "' + b"ab" * 19 + b'"}', "X")
    assert payload.sha("a") == "ab" * 20
    with pytest.raises(WebhookError, match="'b' is not a 40-hex commit id"):
        payload.sha("b")
