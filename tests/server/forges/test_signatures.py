"""HMAC and token comparison helpers: constant-time, and never raising on what a client sent."""

from __future__ import annotations

import pytest

from shipline.server.forges.signatures import hex_signature_matches, hmac_sha256_hex, token_matches

BODY = b"Hello, World!"
SECRET = "It's a Secret to Everybody"
# docs.github.com "Validating webhook deliveries": the documented test vector.
DIGEST = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_hmac_sha256_hex_matches_the_documented_vector() -> None:
    assert hmac_sha256_hex(SECRET, BODY) == DIGEST


@pytest.mark.parametrize(
    ("given", "prefix", "expected"),
    [
        (DIGEST, "", True),
        ("sha256=" + DIGEST, "sha256=", True),
        (f"  sha256={DIGEST}\t", "sha256=", True),
        ("sha256=" + DIGEST.upper(), "sha256=", True),
        (DIGEST, "sha256=", False),
        ("sha256=" + DIGEST, "", False),
        ("SHA256=" + DIGEST, "sha256=", False),
        ("sha256=" + DIGEST[:-1], "sha256=", False),
        ("sha256=" + DIGEST + "0", "sha256=", False),
        ("sha256=" + DIGEST[:-1] + "é", "sha256=", False),
        ("sha256=" + DIGEST[:32] + " " + DIGEST[32:], "sha256=", False),
        (None, "sha256=", False),
        ("", "", False),
    ],
)
def test_hex_signature_matches(given: str | None, prefix: str, expected: bool) -> None:
    assert hex_signature_matches(given, SECRET, BODY, prefix=prefix) is expected


def test_an_empty_secret_never_matches_even_its_own_signature() -> None:
    assert not hex_signature_matches(hmac_sha256_hex("", BODY), "", BODY)
    assert not token_matches("", "")


def test_secrets_that_cannot_be_utf8_do_not_raise() -> None:
    assert not hex_signature_matches(DIGEST, "\ud800", BODY)
    assert token_matches("\ud800", "\ud800")
    assert not token_matches("x", "\ud800")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("token", True), ("token ", False), ("Token", False), ("tok", False), ("tökën", False)],
)
def test_token_matches(given: str, expected: bool) -> None:
    assert token_matches(given, "token") is expected
