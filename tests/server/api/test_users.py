"""/api/v1/users and /api/v1/me/tokens|password through the in-process server: who may
manage users, tokens shown once and refused the moment they are revoked, passwords."""

from __future__ import annotations

from typing import Any

from shipline.server import users
from shipline.server.tokens import hash_token
from shipline.store.models import Role


def _call(api: Any, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    return api.client.request(method, f"/api/v1{path}", json=body, headers=api.headers(token))


def _me(api: Any, token: str) -> Any:
    return _call(api, "GET", "/me", token)


def _signs_in(api: Any, name: str, secret: str) -> bool:
    with api.state.db.session() as session:
        return users.authenticate_password(session, name, secret) is not None


def test_only_admins_manage_users(api: Any) -> None:
    developer = api.token_for(Role.DEVELOPER, "dev")
    deployer = api.token_for(Role.DEPLOYER, "ops")
    for token in (developer, deployer):
        listed = _call(api, "GET", "/users", token)
        assert listed.status_code == 403
        assert "needs the admin role" in listed.json()["detail"]
        body = {"name": "sneaky", "role": "admin"}
        assert _call(api, "POST", "/users", token, body).status_code == 403
        assert _call(api, "PATCH", "/users/dev", token, {"role": "admin"}).status_code == 403
        assert _call(api, "DELETE", "/users/admin", token).status_code == 403
    assert api.client.get("/api/v1/users").status_code == 401
    assert _me(api, developer).json() == {"name": "dev", "role": "developer"}
    assert "sneaky" not in {u["name"] for u in api.get("/users")}


def test_an_admin_adds_a_user_with_a_password_and_a_first_token(api: Any) -> None:
    body = {"name": "alice", "role": "deployer", "password": "alice's secret", "token": True}
    made = _call(api, "POST", "/users", body=body)
    assert made.status_code == 201, made.text
    alice = made.json()
    assert (alice["name"], alice["role"], alice["has_password"]) == ("alice", "deployer", True)
    assert alice["token"].startswith("shp_")
    assert _me(api, alice["token"]).json() == {"name": "alice", "role": "deployer"}
    assert _signs_in(api, "alice", "alice's secret")

    plain = _call(api, "POST", "/users", body={"name": "bob", "role": "viewer"})
    assert plain.status_code == 201
    assert plain.json()["token"] is None
    listed = {u["name"]: u for u in api.get("/users")}
    assert sorted(listed) == ["admin", "alice", "bob"]
    assert listed["bob"]["has_password"] is False
    assert set(listed["alice"]) == {"name", "role", "created_at", "has_password"}

    again = _call(api, "POST", "/users", body={"name": "alice", "role": "viewer"})
    assert again.status_code == 409
    assert again.json()["detail"] == "user 'alice' already exists"
    bad_name = _call(api, "POST", "/users", body={"name": "-x", "role": "viewer"})
    assert bad_name.status_code == 422
    assert "invalid user name" in bad_name.json()["detail"]
    short = _call(api, "POST", "/users", body={"name": "carol", "role": "viewer", "password": "x"})
    assert short.status_code == 422
    assert "at least 8 characters" in short.json()["detail"]
    assert _call(api, "POST", "/users", body={"name": "dan", "role": "root"}).status_code == 422
    assert "carol" not in {u["name"] for u in api.get("/users")}


def test_an_admin_changes_roles_and_passwords_and_removes_users(api: Any) -> None:
    token = api.token_for(Role.DEVELOPER, "dev")
    assert _call(api, "GET", "/users", token).status_code == 403  # now trusted for 5 s
    promoted = _call(api, "PATCH", "/users/dev", body={"role": "admin"})
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    assert _call(api, "GET", "/users", token).status_code == 200  # at once, not in 5 s

    changed = _call(api, "PATCH", "/users/dev", body={"password": "dev's password"})
    assert changed.json()["has_password"] is True
    assert _signs_in(api, "dev", "dev's password")
    assert _call(api, "PATCH", "/users/nobody", body={"role": "viewer"}).status_code == 404

    # dev, an admin now, demotes the first admin, then cannot demote or delete themselves.
    assert _call(api, "PATCH", "/users/admin", token, {"role": "viewer"}).status_code == 200
    for method, body in (("PATCH", {"role": "deployer"}), ("DELETE", None)):
        refused = _call(api, method, "/users/dev", token, body)
        assert refused.status_code == 409
        assert "'dev' is the last admin" in refused.json()["detail"]
    assert _call(api, "PATCH", "/users/dev", token, {"password": "x"}).status_code == 422

    removed = _call(api, "DELETE", "/users/admin", token)
    assert removed.status_code == 204
    assert _me(api, api.admin_token).status_code == 401  # its tokens went with it, at once
    assert [u["name"] for u in api.get("/users", token)] == ["dev"]
    assert _call(api, "DELETE", "/users/admin", token).status_code == 404


def test_a_token_is_shown_once_and_refused_the_moment_it_is_revoked(api: Any) -> None:
    viewer = api.token_for(Role.VIEWER, "val")
    made = _call(api, "POST", "/me/tokens", viewer, {"name": "laptop"})
    assert made.status_code == 201, made.text
    laptop = made.json()
    assert set(laptop) == {"id", "name", "token"}
    assert laptop["name"] == "laptop"

    assert _me(api, laptop["token"]).json()["name"] == "val"
    assert hash_token(laptop["token"]) in api.state.callers  # trusted for the next 5 s...
    listed = api.get("/me/tokens", laptop["token"])
    assert [t["name"] for t in listed] == ["val token", "laptop"]
    assert laptop["token"] not in str(listed)
    assert {"id", "name", "created_at", "last_used_at"} == set(listed[1])
    assert listed[1]["last_used_at"] is not None

    revoked = _call(api, "DELETE", f"/me/tokens/{laptop['id']}", viewer)
    assert revoked.status_code == 204
    refused = _me(api, laptop["token"])  # ...yet refused at once
    assert refused.status_code == 401
    assert [t["name"] for t in api.get("/me/tokens", viewer)] == ["val token"]
    assert _call(api, "DELETE", f"/me/tokens/{laptop['id']}", viewer).status_code == 404

    blank = _call(api, "POST", "/me/tokens", viewer, {"name": ""})
    assert blank.status_code == 422
    assert "name of 1" in blank.json()["detail"]


def test_a_user_cannot_see_or_revoke_another_users_token(api: Any) -> None:
    alice = api.token_for(Role.DEVELOPER, "alice")
    bob = api.token_for(Role.DEVELOPER, "bob")
    (bobs,) = api.get("/me/tokens", bob)
    assert [t["name"] for t in api.get("/me/tokens", alice)] == ["alice token"]
    refused = _call(api, "DELETE", f"/me/tokens/{bobs['id']}", alice)
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"you have no token {bobs['id']}"
    assert _me(api, bob).status_code == 200
    # Not even an admin revokes someone else's token here: they delete the user instead.
    assert _call(api, "DELETE", f"/me/tokens/{bobs['id']}").status_code == 404
    assert _me(api, bob).status_code == 200


def test_changing_ones_own_password(api: Any) -> None:
    body = {"name": "pat", "role": "viewer", "password": "first password", "token": True}
    made = _call(api, "POST", "/users", body=body)
    token = made.json()["token"]
    wrong = _call(api, "PUT", "/me/password", token, {"current": "not it", "new": "next password"})
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "the current password is wrong"
    # With a password, the token does not stand in for it.
    by_token = _call(api, "PUT", "/me/password", token, {"current": token, "new": "next password"})
    assert by_token.status_code == 403
    short = _call(api, "PUT", "/me/password", token, {"current": "first password", "new": "short"})
    assert short.status_code == 422
    assert _signs_in(api, "pat", "first password")

    body = {"current": "first password", "new": "next password"}
    assert _call(api, "PUT", "/me/password", token, body).status_code == 204
    assert not _signs_in(api, "pat", "first password")
    assert _signs_in(api, "pat", "next password")
    assert _me(api, token).status_code == 200  # tokens keep working


def test_the_first_admin_sets_a_password_with_the_first_token(api: Any) -> None:
    assert api.get("/users")[0]["has_password"] is False
    assert _signs_in(api, "admin", api.admin_token)  # the web UI's sign-in, before a password
    body = {"current": "a guess", "new": "admin password"}
    assert _call(api, "PUT", "/me/password", body=body).status_code == 403
    body = {"current": api.admin_token, "new": "admin password"}
    assert _call(api, "PUT", "/me/password", body=body).status_code == 204
    assert api.get("/users")[0]["has_password"] is True
    assert _signs_in(api, "admin", "admin password")


def test_the_routes_are_in_the_openapi_document(api: Any) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    for path in ["/users", "/users/{name}", "/me/tokens", "/me/tokens/{token_id}", "/me/password"]:
        assert f"/api/v1{path}" in document["paths"], path
    assert "token" not in document["components"]["schemas"]["TokenOut"]["properties"]
