"""Secured values at rest: Fernet tokens, a key from the environment or a private key file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shipline.errors import ShiplineError
from shipline.server.secretbox import SecretBox, SecretKeyError, load_secret_box

VALUE = "pa55word: ünïcode & more"


def new_key() -> str:
    return Fernet.generate_key().decode()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- SecretBox -----------------------------------------------------------------------------


def test_a_value_survives_the_round_trip() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.encrypt(VALUE)
    assert isinstance(token, str)
    assert token.isascii()
    assert box.decrypt(token) == VALUE
    assert box.decrypt(box.encrypt("")) == ""


def test_the_token_does_not_contain_the_value() -> None:
    box = SecretBox(Fernet.generate_key())
    value = "plain-visible-secret"
    token = box.encrypt(value)
    assert value not in token
    assert box.encrypt(value) != token  # a fresh IV every time


def test_another_key_cannot_decrypt() -> None:
    token = SecretBox(Fernet.generate_key()).encrypt(VALUE)
    with pytest.raises(SecretKeyError, match="another key, or is corrupt") as caught:
        SecretBox(Fernet.generate_key()).decrypt(token)
    assert isinstance(caught.value, ShiplineError)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAA", "ünï", "x" * 200])
def test_a_corrupt_token_is_a_secret_key_error(token: str) -> None:
    with pytest.raises(SecretKeyError):
        SecretBox(Fernet.generate_key()).decrypt(token)


def test_a_tampered_token_is_refused() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.encrypt(VALUE)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(SecretKeyError):
        box.decrypt(flipped)


def test_a_malformed_key_given_directly_is_a_secret_key_error() -> None:
    with pytest.raises(SecretKeyError, match="not a valid key"):
        SecretBox(b"too-short")


# --- load_secret_box -----------------------------------------------------------------------


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    box = load_secret_box(data, env={})
    key_file = data / "secret.key"
    assert file_mode(key_file) == 0o600
    token = box.encrypt(VALUE)
    key = key_file.read_bytes()

    again = load_secret_box(data, env={})
    assert key_file.read_bytes() == key
    assert again.decrypt(token) == VALUE
    assert [p.name for p in data.iterdir()] == ["secret.key"]  # no temporary file left


def test_the_key_file_mode_does_not_depend_on_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_secret_box(tmp_path, env={})
    finally:
        os.umask(old)
    assert file_mode(tmp_path / "secret.key") == 0o600


def test_the_environment_wins_and_no_file_is_made(tmp_path: Path) -> None:
    key = new_key()
    box = load_secret_box(tmp_path, env={"SHIPLINE_SECRET_KEY": key})
    assert not (tmp_path / "secret.key").exists()
    assert SecretBox(key.encode()).decrypt(box.encrypt(VALUE)) == VALUE


def test_the_environment_wins_over_an_existing_file(tmp_path: Path) -> None:
    file_box = load_secret_box(tmp_path, env={})
    env_box = load_secret_box(tmp_path, env={"SHIPLINE_SECRET_KEY": new_key()})
    with pytest.raises(SecretKeyError):
        env_box.decrypt(file_box.encrypt(VALUE))


def test_os_environ_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    monkeypatch.setenv("SHIPLINE_SECRET_KEY", key)
    box = load_secret_box(tmp_path)
    assert SecretBox(key.encode()).decrypt(box.encrypt(VALUE)) == VALUE
    assert not (tmp_path / "secret.key").exists()


def test_rotation_the_first_key_encrypts_and_every_key_decrypts(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    old_token = load_secret_box(tmp_path, env={"SHIPLINE_SECRET_KEY": old}).encrypt(VALUE)

    box = load_secret_box(tmp_path, env={"SHIPLINE_SECRET_KEY": f" {new} , {old} ,"})
    assert box.decrypt(old_token) == VALUE
    new_token = box.encrypt(VALUE)
    assert SecretBox(new.encode()).decrypt(new_token) == VALUE
    with pytest.raises(SecretKeyError):
        SecretBox(old.encode()).decrypt(new_token)

    rotated = box.rotate(old_token)
    assert SecretBox(new.encode()).decrypt(rotated) == VALUE


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("not-a-key", "SHIPLINE_SECRET_KEY"),
        ("", "SHIPLINE_SECRET_KEY is set but holds no key"),
        (" , ", "SHIPLINE_SECRET_KEY is set but holds no key"),
        ("{good},bad-key", "key 2 of 2 in SHIPLINE_SECRET_KEY"),
    ],
)
def test_a_malformed_environment_key_names_its_source(
    tmp_path: Path, value: str, where: str
) -> None:
    value = value.replace("{good}", new_key())
    with pytest.raises(SecretKeyError) as caught:
        load_secret_box(tmp_path, env={"SHIPLINE_SECRET_KEY": value})
    message = str(caught.value)
    assert where in message
    assert "Fernet.generate_key()" in message
    for part in value.split(","):
        if part.strip():
            assert part.strip() not in message
    assert not (tmp_path / "secret.key").exists()


# A fixed truncated key: xdist workers must collect the same test ids.
TRUNCATED_KEY = b"ZmFrZS1rZXktZm9yLXRlc3RzLW9ubHktMzItYnl0ZXM"


@pytest.mark.parametrize("content", [b"", b"garbage\n", TRUNCATED_KEY])
def test_a_malformed_key_file_names_its_path(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    with pytest.raises(SecretKeyError) as caught:
        load_secret_box(tmp_path, env={})
    message = str(caught.value)
    assert str(key_file) in message
    assert "Fernet.generate_key()" in message
    if content:
        assert content.strip().decode() not in message
    assert key_file.read_bytes() == content  # never replaced by a fresh key


def test_a_readable_key_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key()
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(key + b"\n")
    key_file.chmod(0o644)
    with caplog.at_level("WARNING", logger="shipline.server.secretbox"):
        load_secret_box(tmp_path, env={})
    assert "chmod 600" in caplog.text
    assert key.decode() not in caplog.text


def test_messages_and_logs_never_hold_a_key_or_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        box = load_secret_box(tmp_path, env={})
        token = box.encrypt(VALUE)
        with pytest.raises(SecretKeyError) as caught:
            SecretBox(Fernet.generate_key()).decrypt(token)
    key = (tmp_path / "secret.key").read_text().strip()
    assert "back it up" in caplog.text
    for text in (caplog.text, str(caught.value)):
        assert key not in text
        assert VALUE not in text


# --- two processes starting at once -------------------------------------------------------


def test_a_lost_race_adopts_the_key_written_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process links its key file between our check and our link."""
    theirs = Fernet.generate_key()
    real_link = os.link

    def link_after_them(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        Path(dst).write_bytes(theirs + b"\n")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_them)  # the module calls os.link
    ours = load_secret_box(tmp_path, env={})
    assert ours.decrypt(SecretBox(theirs).encrypt(VALUE)) == VALUE
    assert (tmp_path / "secret.key").read_bytes() == theirs + b"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_threads_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    count = 8
    barrier = threading.Barrier(count)
    boxes: list[SecretBox] = []
    lock = threading.Lock()

    def load() -> None:
        barrier.wait()
        box = load_secret_box(tmp_path / "data", env={})
        with lock:
            boxes.append(box)

    threads = [threading.Thread(target=load) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(boxes) == count
    token = boxes[0].encrypt(VALUE)
    assert all(box.decrypt(token) == VALUE for box in boxes)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret.key"]


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    # Each child imports first, then sleeps until the same instant, so the loads really race.
    child = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from shipline.server.secretbox import load_secret_box
        start_at = float(sys.argv[2])
        time.sleep(max(0.0, start_at - time.time()))
        print(load_secret_box(Path(sys.argv[1]), env={}).encrypt("from a child"))
        """
    )
    data = tmp_path / "data"
    start_at = str(time.time() + 2.0)
    env = {k: v for k, v in os.environ.items() if k != "SHIPLINE_SECRET_KEY"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", child, str(data), start_at],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    tokens = []
    for proc in children:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        tokens.append(out.strip())
    box = load_secret_box(data, env={})
    assert {box.decrypt(token) for token in tokens} == {"from a child"}
    assert [p.name for p in data.iterdir()] == ["secret.key"]
