"""Checking a delivery's secret: HMAC-SHA256 hex signatures and plain tokens, in constant time.

Nothing here raises on what a client sent: a missing, malformed or non-ASCII header is simply
not a match. An empty configured secret never matches, so a repository without a secret never
accepts a delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _key(secret: str) -> bytes:
    # surrogatepass: a secret read from a badly encoded file still gives bytes instead of raising.
    return secret.encode("utf-8", "surrogatepass")


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `body`, keyed by `secret`."""
    return hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def hex_signature_matches(given: str | None, secret: str, body: bytes, prefix: str = "") -> bool:
    """True if `given` is `prefix` + the hex HMAC-SHA256 of `body` under `secret`."""
    if not secret or given is None:
        return False
    given = given.strip()
    if not given.startswith(prefix):
        return False
    digest = given[len(prefix) :]
    # Checked before comparing: compare_digest refuses non-ASCII str, and a wrong length or
    # alphabet ("sha1=…", base64) can never be a match anyway.
    if not _HEX_SHA256.fullmatch(digest):
        return False
    return hmac.compare_digest(hmac_sha256_hex(secret, body), digest.lower())


def token_matches(given: str | None, secret: str) -> bool:
    """True if `given` is exactly `secret` (for forges that send the secret itself)."""
    if not secret or given is None:
        return False
    return hmac.compare_digest(_key(given), _key(secret))
