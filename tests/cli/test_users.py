"""`shipline user …` and `shipline token …` against a real `shipline serve`: a user added with
a password from standard input, tokens created, logged in with, listed and revoked; roles
changed; users removed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

TOKEN = re.compile(r"\(shown once\): (shp_\S+)")


def _with_stdin(tmp_path: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Like the `shipline_cli` fixture (same config directory), with `stdin` piped in."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "NO_COLOR": "1",
           "COLUMNS": "200"}  # fmt: skip
    env.pop("SHIPLINE_SERVER", None)
    env.pop("SHIPLINE_TOKEN", None)
    return subprocess.run(
        [str(Path(sys.executable).with_name("shipline")), *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def _status(served: Any, token: str, path: str = "/me") -> int:
    response = httpx.get(
        f"{served.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_users_and_tokens_from_the_command_line(
    served: Any, shipline_cli: Any, tmp_path: Path
) -> None:
    _ok(shipline_cli("login", served.url, "--token", served.admin_token))

    # A password is never an argument: it would end up in shell history and `ps`.
    argument = shipline_cli(
        "user", "add", "mallory", "--role", "viewer", "--password", "hunter2hunter2"
    )
    assert argument.returncode == 1
    assert "standard input only" in argument.stderr
    add_alice = ["user", "add", "alice", "--role", "developer", "--password", "-", "--token"]
    added = _with_stdin(tmp_path, "alice's password\n", *add_alice)
    out = _ok(added)
    assert "added alice (developer) with a password" in out
    match = TOKEN.search(out)
    assert match, out
    first = match.group(1)
    _ok(shipline_cli("user", "add", "bob", "--role", "viewer"))
    bad_role = shipline_cli("user", "add", "carol", "--role", "boss")
    assert bad_role.returncode == 2
    taken = shipline_cli("user", "add", "bob", "--role", "viewer")
    assert taken.returncode == 1
    assert "409: user 'bob' already exists" in taken.stderr

    listed = _ok(shipline_cli("user", "list"))
    assert re.search(r"^ *alice +│ developer +│ yes +│", listed, re.MULTILINE), listed
    assert re.search(r"^ *bob +│ viewer +│ +│", listed, re.MULTILINE), listed
    assert "mallory" not in listed

    # alice logs in with the token she was given, and makes one of her own.
    assert "as alice (developer)" in _ok(shipline_cli("login", served.url, "--token", first))
    created = _ok(shipline_cli("token", "create", "laptop"))
    assert "created token" in created
    match = TOKEN.search(created)
    assert match, created
    laptop = match.group(1)
    assert "as alice (developer)" in _ok(shipline_cli("login", served.url, "--token", laptop))
    tokens = _ok(shipline_cli("token", "list"))
    assert "first token" in tokens
    assert "laptop" in tokens
    assert first not in tokens
    assert laptop not in tokens
    not_admin = shipline_cli("user", "list")
    assert not_admin.returncode == 1
    assert "403: this needs the admin role; you are developer" in not_admin.stderr

    # The password arrived as typed: without the newline that ended it.
    response = httpx.put(
        f"{served.url}/api/v1/me/password",
        json={"current": "alice's password", "new": "alice's new password"},
        headers={"Authorization": f"Bearer {laptop}"},
        timeout=10,
    )
    assert response.status_code == 204, response.text

    first_id = re.search(r"^ *(\d+) +│ first token", tokens, re.MULTILINE)
    assert first_id, tokens
    assert _status(served, first) == 200
    assert f"revoked token {first_id.group(1)}" in _ok(
        shipline_cli("token", "revoke", first_id.group(1))
    )
    assert _status(served, first) == 401  # at once
    assert _status(served, laptop) == 200
    assert shipline_cli("token", "revoke", first_id.group(1)).returncode == 1

    # Back as the admin: a new role applies at once, and a removed user's tokens stop.
    _ok(shipline_cli("login", served.url, "--token", served.admin_token))
    assert _status(served, laptop, "/users") == 403
    assert "alice is now admin" in _ok(shipline_cli("user", "role", "alice", "admin"))
    assert _status(served, laptop, "/users") == 200
    assert "removed alice" in _ok(shipline_cli("user", "remove", "alice"))
    assert _status(served, laptop) == 401
    assert "alice" not in _ok(shipline_cli("user", "list"))
    last = shipline_cli("user", "remove", "admin")
    assert last.returncode == 1
    assert "'admin' is the last admin" in last.stderr
