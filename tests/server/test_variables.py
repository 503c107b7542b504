"""Repository variables: plain and secured, encrypted at rest, never returned, masked in logs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipline.store.models import Role, Variable

ECHO = """
pipelines:
  default:
    - step:
        name: Use
        script:
          - echo "region=$REGION"
          - echo "token=$DEPLOY_TOKEN"
"""
SECRET = "tk-9f8e7d6c5b4a-very-secret"


def _put(api: Any, name: str, body: dict[str, Any], token: str | None = None) -> Any:
    return api.client.put(f"/api/v1/repos/shop/variables/{name}", json=body,
                          headers=api.headers(token))  # fmt: skip


def test_secured_values_are_masked_in_logs_and_never_returned(hosted: Any) -> None:
    repo = hosted(ECHO)
    api = repo.api
    assert _put(api, "REGION", {"value": "eu-west"}).status_code == 200
    made = _put(api, "DEPLOY_TOKEN", {"value": SECRET, "secured": True})
    assert made.status_code == 200
    assert made.json()["value"] is None
    listed = api.get("/repos/shop/variables")
    assert {v["name"]: v["value"] for v in listed} == {"DEPLOY_TOKEN": None, "REGION": "eu-west"}
    assert SECRET not in str(listed)

    number = repo.trigger()["number"]
    assert repo.wait(number, {"passed", "failed"})["status"] == "passed"
    log = repo.log(number, "Use")
    assert "region=eu-west" in log
    assert "token=$DEPLOY_TOKEN" in log
    assert SECRET not in log


def test_secured_values_are_encrypted_at_rest(api: Any, hosted: Any) -> None:
    hosted(ECHO)
    _put(api, "DEPLOY_TOKEN", {"value": SECRET, "secured": True})
    _put(api, "REGION", {"value": "eu-west"})
    with api.state.db.session() as session:
        stored = {v.name: v.value for v in session.scalars(select(Variable))}
    assert stored["REGION"] == "eu-west"
    assert SECRET not in stored["DEPLOY_TOKEN"]
    assert api.state.box.decrypt(stored["DEPLOY_TOKEN"]) == SECRET
    key = (api.settings.data_dir / "secret.key").read_bytes()
    assert key.strip()
    assert SECRET.encode() not in key


def test_roles_bad_names_and_no_unsecuring(api: Any, hosted: Any) -> None:
    hosted(ECHO)
    developer = api.token_for(Role.DEVELOPER, "dev")
    viewer = api.token_for(Role.VIEWER, "watcher")
    assert _put(api, "X", {"value": "1"}, token=developer).status_code == 403
    assert (
        api.client.get("/api/v1/repos/shop/variables", headers=api.headers(viewer)).status_code
        == 403
    )
    assert (
        api.client.get("/api/v1/repos/shop/variables", headers=api.headers(developer)).status_code
        == 200
    )
    for bad in ("1ABC", "WITH-DASH", "BITBUCKET_COMMIT"):
        refused = _put(api, bad, {"value": "x"})
        assert refused.status_code == 422, bad
        assert bad in refused.json()["detail"]
    _put(api, "KEY", {"value": "s", "secured": True})
    unsecure = _put(api, "KEY", {"value": "s", "secured": False})
    assert unsecure.status_code == 422
    assert "cannot be made plain" in unsecure.json()["detail"]
    gone = api.client.delete("/api/v1/repos/shop/variables/KEY", headers=api.headers())
    assert gone.status_code == 204
    assert (
        api.client.delete("/api/v1/repos/shop/variables/KEY", headers=api.headers()).status_code
        == 404
    )
    assert _put(api, "KEY", {"value": "now plain"}).json()["value"] == "now plain"


def test_a_changed_variable_reaches_the_next_step(hosted: Any) -> None:
    repo = hosted(ECHO)
    _put(repo.api, "REGION", {"value": "eu-west"})
    first = repo.trigger()["number"]
    repo.wait(first, {"passed"})
    _put(repo.api, "REGION", {"value": "us-east"})
    second = repo.trigger()["number"]
    repo.wait(second, {"passed"})
    assert "region=eu-west" in repo.log(first, "Use")
    assert "region=us-east" in repo.log(second, "Use")
