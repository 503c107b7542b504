"""Encryption of secured variables at rest, with a key kept outside the database.

The key comes from ``SHIPLINE_SECRET_KEY`` when that is set, so a team can keep it in their
secret manager instead of the data directory; otherwise from ``DATA_DIR/secret.key``, made on
first use. The variable may hold several comma-separated keys, newest first: the first
encrypts, every one decrypts, so a key is rotated by putting the new one in front, re-encrypting
stored values (`SecretBox.rotate`) and then dropping the old one.

Neither a key nor a decrypted value ever goes into a log line or an exception message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shipline.errors import ShiplineError

KEY_ENV = "SHIPLINE_SECRET_KEY"
KEY_FILE = "secret.key"
MAKE_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)

log = logging.getLogger(__name__)


class SecretKeyError(ShiplineError):
    """A secret key is malformed, or a stored value cannot be decrypted with the keys given."""


class SecretBox:
    """Encrypts secured variables at rest: Fernet (AES-128-CBC + HMAC-SHA256), `cryptography`."""

    def __init__(self, key: bytes, *older_keys: bytes, source: str = "the key given") -> None:
        """`key` encrypts; it and `older_keys` decrypt. `source` names where the keys came from."""
        keys = (key, *older_keys)
        self._fernet = MultiFernet(
            [_fernet(k, _nth(source, i, len(keys))) for i, k in enumerate(keys)]
        )
        self._source = source

    def encrypt(self, value: str) -> str:
        """A token for `value` (URL-safe base64 text, safe in a TEXT column)."""
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            # `from None`: the cause carries nothing useful, and the message no secret.
            raise SecretKeyError(
                f"a stored secured value cannot be decrypted with {self._source}: it was "
                "encrypted with another key, or is corrupt (after a key change, keep the old "
                f"key after the new one in {KEY_ENV})"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` with the first key, so that older keys can be retired."""
        return self.encrypt(self.decrypt(token))


def load_secret_box(data_dir: Path, env: Mapping[str, str] | None = None) -> SecretBox:
    """The server's SecretBox: keys from SHIPLINE_SECRET_KEY when set, else DATA_DIR/secret.key.

    The file is created on first use, mode 0600, atomically: processes starting at the same
    moment all end up with the one key that was written first.
    """
    environ = os.environ if env is None else env
    raw = environ.get(KEY_ENV)
    if raw is not None:
        # Set but empty is refused rather than read as unset: falling back to a fresh key file
        # would make everything stored under the intended key unreadable.
        keys = [part.strip().encode() for part in raw.split(",") if part.strip()]
        if not keys:
            raise SecretKeyError(f"{KEY_ENV} is set but holds no key; make one with: {MAKE_KEY}")
        return SecretBox(*keys, source=KEY_ENV)
    path = data_dir / KEY_FILE
    return SecretBox(_read_or_create_key(path), source=str(path))


def _fernet(key: bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):  # binascii.Error, a bad base64 padding, is a ValueError
        raise SecretKeyError(
            f"{source} is not a valid key (32 bytes in URL-safe base64, 44 characters); "
            f"make one with: {MAKE_KEY}"
        ) from None


def _nth(source: str, index: int, count: int) -> str:
    return source if count == 1 else f"key {index + 1} of {count} in {source}"


def _read_or_create_key(path: Path) -> bytes:
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Write the key in full under a private name, then link it into place: link never replaces
    # an existing file, so when two processes race the first link wins and the loser reads
    # the winner's key (os.replace would let the loser overwrite a key already in use).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
            os.write(fd, key + b"\n")
            os.fsync(fd)  # losing the key loses every stored secret
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key(path)
        except OSError as exc:  # a file system without hard links
            raise SecretKeyError(
                f"cannot create {path} ({exc.strerror}); set {KEY_ENV} instead, to a key made "
                f"with: {MAKE_KEY}"
            ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    log.warning(
        "created a new secret key at %s: back it up, stored secured variables cannot be "
        "decrypted without it",
        path,
    )
    return key


def _read_key(path: Path) -> bytes:
    with path.open("rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        key = handle.read().strip()
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is open to other users (mode %o); chmod 600 it", path, mode & 0o777)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
