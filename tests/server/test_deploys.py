"""Continuous delivery on the server: environments, the deployer role, one deployment per
environment at a time, older-over-newer refusal, supersede, rollback with the original
artifacts and variables, deployment variables, what runs where."""

from __future__ import annotations

import time
from typing import Any

from shipline.store.models import Role

PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Build
          script:
            - mkdir -p dist && echo "package of $BITBUCKET_COMMIT ($BUILD_NOTE)" > dist/app.txt
          artifacts: [dist/**]
      - step:
          name: Deploy to staging
          deployment: staging
          script:
            - cat dist/app.txt
            - echo "deploying with $DEPLOY_TARGET and $TOKEN"
            - sleep ${DEPLOY_SECONDS:-0}
      - step:
          name: Deploy to production
          deployment: production
          trigger: manual
          script:
            - cat dist/app.txt
            - echo "production with $DEPLOY_TARGET"
"""


def _put(api: Any, path: str, body: dict[str, Any]) -> Any:
    response = api.client.put(f"/api/v1{path}", json=body, headers=api.headers())
    assert response.status_code == 200, response.text
    return response.json()


def _envs(repo: Any) -> dict[str, Any]:
    return {e["name"]: e for e in repo.api.get("/repos/shop/environments")}


def _run(repo: Any, **body: Any) -> dict[str, Any]:
    number = repo.trigger(**body)["number"]
    return repo.wait(number, {"passed", "failed", "paused", "cancelled"})


def test_green_main_deploys_to_staging_and_production_waits_for_a_deployer(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    api = repo.api
    _put(api, "/repos/shop/variables/DEPLOY_TARGET", {"value": "repo-default"})
    _put(api, "/repos/shop/environments/production/variables/DEPLOY_TARGET",
         {"value": "prod-cluster"})  # fmt: skip
    first = _run(repo)
    assert first["status"] == "paused"
    staging = _envs(repo)["staging"]
    assert staging["kind"] == "staging"
    assert staging["current"]["commit"] == first["commit"]
    assert staging["current"]["pipeline"] == first["number"]
    assert staging["current"]["status"] == "passed"
    assert "deploying with repo-default" in repo.log(first["number"], "Deploy to staging")

    production = repo.step(first, "Deploy to production")["key"]
    path = f"/repos/shop/pipelines/{first['number']}/steps/{production}/run"
    developer = api.token_for(Role.DEVELOPER, "dev")
    refused = api.post(path, token=developer)
    assert refused.status_code == 403
    assert "deployer role" in refused.json()["detail"]
    deployer = api.token_for(Role.DEPLOYER, "release-manager")
    assert api.post(path, token=deployer).status_code == 202
    done = repo.wait(first["number"], {"passed", "failed"})
    assert done["status"] == "passed"
    assert repo.step(done, "Deploy to production")["approved_by"] == "release-manager"
    prod = _envs(repo)["production"]
    assert prod["current"]["triggered_by"] == "release-manager"
    assert prod["current"]["commit"] == first["commit"]
    assert "production with prod-cluster" in repo.log(first["number"], "Deploy to production")
    assert [e["name"] for e in api.get("/repos/shop/environments")] == ["staging", "production"]


def test_one_deployment_at_a_time_per_environment_in_order(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    _put(repo.api, "/repos/shop/variables/DEPLOY_SECONDS", {"value": "1.5"})
    first = repo.trigger()["number"]
    second = repo.trigger()["number"]
    deadline = time.monotonic() + 30
    while True:  # the second waits, visibly, while the first deploys
        staging = _envs(repo).get("staging")
        waiting = staging["waiting"] if staging else []
        if len(waiting) == 2 and any(d["status"] == "running" for d in waiting):
            break
        assert time.monotonic() < deadline, staging
        time.sleep(0.05)
    assert [d["status"] for d in staging["waiting"]] == ["running", "waiting"]
    assert [d["pipeline"] for d in staging["waiting"]] == [first, second]
    repo.wait(first, {"paused"})
    repo.wait(second, {"paused"})
    history = repo.api.get("/repos/shop/environments/staging?history=5")["history"]
    spans = sorted((d["started_at"], d["finished_at"]) for d in history)
    assert len(spans) == 2
    assert spans[0][1] <= spans[1][0], spans  # never both at once


def test_a_newer_waiting_deployment_supersedes_an_older_one(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    _put(repo.api, "/repos/shop/variables/DEPLOY_SECONDS", {"value": "2"})
    numbers = [repo.trigger()["number"] for _ in range(3)]
    repo.wait(numbers[0], {"paused"})
    superseded = repo.wait(numbers[1], {"cancelled", "failed"})
    last = repo.wait(numbers[2], {"paused"})
    assert superseded["status"] == "cancelled"
    step = repo.step(superseded, "Deploy to staging")
    assert step["status"] == "cancelled"
    assert step["reason"].startswith(f"superseded by pipeline #{numbers[2]}")
    assert repo.step(last, "Deploy to staging")["status"] == "passed"
    statuses = [d["status"] for d in repo.api.get("/repos/shop/environments/staging")["history"]]
    assert sorted(statuses) == ["passed", "passed", "superseded"]


def test_an_older_commit_is_refused_where_a_newer_one_runs(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    old = _run(repo)["commit"]
    new_commit = repo.commit({"app.txt": "v2"}, "second release")
    newer = _run(repo)
    assert newer["commit"] == new_commit
    stale = _run(repo, commit=old)
    assert stale["status"] == "failed"
    deploy = repo.step(stale, "Deploy to staging")
    assert deploy["status"] == "failed"
    assert deploy["reason"].startswith(f"refused: {old[:12]} is older than {new_commit[:12]}")
    assert _envs(repo)["staging"]["current"]["commit"] == new_commit
    # The same commit again is not older: it deploys.
    assert repo.step(_run(repo), "Deploy to staging")["status"] == "passed"


def test_rollback_redeploys_with_the_original_artifacts_and_variables(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    api = repo.api
    _put(api, "/repos/shop/variables/BUILD_NOTE", {"value": "first build"})
    _put(api, "/repos/shop/environments/staging/variables/TOKEN",
         {"value": "staging-token-1", "secured": True})  # fmt: skip
    first = _run(repo)
    repo.commit({"app.txt": "v2"}, "second release")
    _put(api, "/repos/shop/variables/BUILD_NOTE", {"value": "second build"})
    _put(api, "/repos/shop/environments/staging/variables/TOKEN",
         {"value": "staging-token-2", "secured": True})  # fmt: skip
    second = _run(repo)
    assert _envs(repo)["staging"]["current"]["commit"] == second["commit"]

    developer = api.token_for(Role.DEVELOPER, "dev")
    assert (
        api.post("/repos/shop/environments/staging/rollback", {}, token=developer).status_code
        == 403
    )
    started = api.post("/repos/shop/environments/staging/rollback", {})
    assert started.status_code == 202, started.text
    rolled = repo.wait(started.json()["number"], {"passed", "failed"})
    assert rolled["status"] == "passed"
    assert (rolled["trigger"], rolled["commit"]) == ("rollback", first["commit"])
    assert [s["name"] for s in rolled["steps"]] == ["Deploy to staging"]
    log = repo.log(rolled["number"], "Deploy to staging")
    assert f"package of {first['commit']} (first build)" in log  # its original artifact
    assert "deploying with $DEPLOY_TARGET and $TOKEN" in log
    staging = repo.api.get("/repos/shop/environments/staging?history=10")
    assert staging["current"]["commit"] == first["commit"]
    detail = repo.api.get(f"/repos/shop/deployments/{staging['current']['id']}")
    assert detail["artifacts"] == [f"#{first['number']}:step-1/dist/app.txt"]
    assert detail["source"] is not None
    assert staging["current"]["kind"] == "rollback"
    assert staging["rolled_back_commit"] == second["commit"]

    # The rolled-back commit does not deploy again by itself...
    again = _run(repo)
    assert again["status"] == "paused"
    held = repo.step(again, "Deploy to staging")
    assert held["status"] == "paused"
    assert "was rolled back from" in held["reason"]
    assert _envs(repo)["staging"]["current"]["commit"] == first["commit"]
    # ...only by a click.
    path = f"/repos/shop/pipelines/{again['number']}/steps/{held['key']}/run"
    assert api.post(path).status_code == 202
    assert repo.wait(again["number"], {"paused", "passed"})["status"] == "paused"  # production
    assert _envs(repo)["staging"]["current"]["commit"] == second["commit"]
    assert _envs(repo)["staging"]["rolled_back_commit"] is None


def test_rollback_with_nothing_to_go_back_to_is_a_clear_409(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    _run(repo)
    answer = repo.api.post("/repos/shop/environments/staging/rollback", {})
    assert answer.status_code == 409
    assert "nothing to go back to" in answer.json()["detail"]


def test_deployment_variables_override_and_stay_secret(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    api = repo.api
    _put(api, "/repos/shop/variables/DEPLOY_TARGET", {"value": "everywhere"})
    made = _put(api, "/repos/shop/environments/staging/variables/TOKEN",
                {"value": "tok-abcdef-123456", "secured": True})  # fmt: skip
    assert made["value"] is None
    listed = api.get("/repos/shop/environments/staging/variables")
    assert listed[0]["value"] is None
    assert "tok-abcdef-123456" not in str(listed)
    first = _run(repo)
    log = repo.log(first["number"], "Deploy to staging")
    assert "deploying with everywhere and $TOKEN" in log
    assert "tok-abcdef-123456" not in log


def test_what_production_would_gain_from_staging(hosted: Any) -> None:
    repo = hosted(PIPELINE)
    first = _run(repo)
    key = repo.step(first, "Deploy to production")["key"]
    repo.api.post(f"/repos/shop/pipelines/{first['number']}/steps/{key}/run")
    repo.wait(first["number"], {"passed"})
    repo.commit({"a.txt": "1"}, "Add the basket")
    repo.commit({"b.txt": "2"}, "Fix VAT rounding [#1234 delivers]")
    _run(repo)
    diff = repo.api.get("/repos/shop/compare?from=staging&to=production")
    assert [c["subject"] for c in diff["commits"]] == [
        "Fix VAT rounding [#1234 delivers]",
        "Add the basket",
    ]
    assert diff["target_commit"] == first["commit"]


STAGED = """
pipelines:
  default:
    - stage:
        name: Staging
        deployment: staging
        steps:
          - step:
              name: Migrate
              script: [sleep 1, echo "migrated $BITBUCKET_BUILD_NUMBER"]
          - step:
              name: Smoke
              script: [sleep 1, echo "smoke $BITBUCKET_BUILD_NUMBER"]
"""


def test_a_stage_is_one_deployment_holding_the_lock_for_all_its_steps(hosted: Any) -> None:
    repo = hosted(STAGED)
    repo.api.client.put("/api/v1/repos/shop/environments/staging", json={"supersede": False},
                        headers=repo.api.headers())  # fmt: skip
    first, second = repo.trigger()["number"], repo.trigger()["number"]
    one, two = repo.wait(first, {"passed"}), repo.wait(second, {"passed"})
    history = repo.api.get("/repos/shop/environments/staging?history=5")["history"]
    assert [d["status"] for d in history] == ["passed", "passed"]
    assert {d["stage"] for d in history} == {"Staging"}
    # The second stage started only after the first stage's last step had finished.
    first_done = max(s["finished_at"] for s in one["steps"])
    second_began = min(s["started_at"] for s in two["steps"])
    assert first_done <= second_began, (one["steps"], two["steps"])
