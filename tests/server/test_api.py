"""The REST API: health, authentication, roles, repositories, OpenAPI."""

from __future__ import annotations

from typing import Any

from shipline.store.models import Role


def test_health_needs_no_token(api: Any) -> None:
    response = api.client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_everything_else_needs_a_valid_token(api: Any) -> None:
    assert api.client.get("/api/v1/repos").status_code == 401
    bad = api.client.get("/api/v1/repos", headers={"Authorization": "Bearer shp_wrong"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/api/v1/me", headers=api.headers()).json() == {
        "name": "admin",
        "role": "admin",
    }


def test_repositories_are_created_listed_and_unique(api: Any) -> None:
    created = api.client.post("/api/v1/repos", json={"name": "webshop"}, headers=api.headers())
    assert created.status_code == 201
    assert created.json()["clone_url"] == "http://127.0.0.1:8000/git/webshop.git"
    assert (api.settings.repos_dir / "webshop.git" / "HEAD").exists()
    again = api.client.post("/api/v1/repos", json={"name": "webshop"}, headers=api.headers())
    assert again.status_code == 409
    names = [r["name"] for r in api.client.get("/api/v1/repos", headers=api.headers()).json()]
    assert names == ["webshop"]


def test_repository_names_are_checked(api: Any) -> None:
    for bad in ("../etc", "Upper", "has space", "", "x" * 101):
        response = api.client.post("/api/v1/repos", json={"name": bad}, headers=api.headers())
        assert response.status_code == 422, bad


def test_a_viewer_can_read_but_not_create(api: Any) -> None:
    viewer = api.token_for(Role.VIEWER, "vera")
    assert api.client.get("/api/v1/repos", headers=api.headers(viewer)).status_code == 200
    denied = api.client.post("/api/v1/repos", json={"name": "x"}, headers=api.headers(viewer))
    assert denied.status_code == 403
    assert "developer role" in denied.json()["detail"]


def test_the_admin_token_is_stored_only_as_a_hash(api: Any) -> None:
    from sqlalchemy import select

    from shipline.store.models import ApiToken

    state = api.client.app.state.shipline
    with state.db.session() as session:
        hashes = session.scalars(select(ApiToken.token_hash)).all()
    assert hashes
    assert api.admin_token not in hashes
    assert all(len(h) == 64 for h in hashes)


def test_openapi_describes_the_routes(api: Any) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/health", "/api/v1/me", "/api/v1/repos"} <= set(document["paths"])


# Routes that prove the caller another way: webhooks by the forge's signature, the hook by
# the server's own secret, git by basic auth (tested in test_git_http).
OPEN = {"/api/v1/health", "/hooks/{forge}/{repo}", "/api/v1/internal/push"}


def test_every_documented_route_but_health_needs_a_token(api: Any) -> None:
    """Walks the OpenAPI document, so a route added later is checked too."""
    api.post("/repos", {"name": "shop"})
    spec = api.client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        if path in OPEN:
            continue
        concrete = (
            path.replace("{repo}", "shop").replace("{number}", "1").replace("{key}", "step-1")
            .replace("{name}", "NAME")
        )  # fmt: skip
        for method in operations:
            response = api.client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, path, response.text)
            checked += 1
    assert checked >= 15
    assert "/api/v1/health" in spec["paths"]
    assert "/hooks/{forge}/{repo}" in spec["paths"]
