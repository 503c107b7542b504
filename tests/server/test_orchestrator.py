"""The server runs pipelines step by step: manual steps, reruns, custom runs, stops,
fail-fast and build numbers — with real embedded workers running real shell steps."""

from __future__ import annotations

import time
from typing import Any

from shipline.store.models import Role

MANUAL = """
pipelines:
  default:
    - step:
        name: Build
        script:
          - mkdir -p dist && echo "app build $BITBUCKET_BUILD_NUMBER" > dist/app.txt
        artifacts: [dist/**]
    - step:
        name: Deploy
        trigger: manual
        script: [cat dist/app.txt]
    - step:
        name: Verify
        script: [echo verified]
"""


def test_a_manual_step_pauses_the_pipeline_until_someone_runs_it(hosted: Any) -> None:
    repo = hosted(MANUAL)
    number = repo.trigger()["number"]
    paused = repo.wait(number, {"paused"})
    assert [s["status"] for s in paused["steps"]] == ["passed", "paused", "pending"]
    assert repo.step(paused, "Deploy")["reason"] == "waiting for a manual trigger"

    deploy = repo.step(paused, "Deploy")["key"]
    response = repo.api.post(f"/repos/shop/pipelines/{number}/steps/{deploy}/run")
    assert response.status_code == 202, response.text
    done = repo.wait(number, {"passed", "failed"})
    assert done["status"] == "passed"
    assert repo.step(done, "Deploy")["approved_by"] == "admin"
    assert "app build 1" in repo.log(number, "Deploy")  # the artifact of Build

    again = repo.api.post(f"/repos/shop/pipelines/{number}/steps/{deploy}/run")
    assert again.status_code == 409
    assert "only a step the pipeline is paused at" in again.json()["detail"]


def test_a_viewer_cannot_run_a_manual_step(hosted: Any) -> None:
    repo = hosted(MANUAL)
    number = repo.trigger()["number"]
    paused = repo.wait(number, {"paused"})
    viewer = repo.api.token_for(Role.VIEWER, "watcher")
    deploy = repo.step(paused, "Deploy")["key"]
    response = repo.api.post(f"/repos/shop/pipelines/{number}/steps/{deploy}/run", token=viewer)
    assert response.status_code == 403
    assert repo.pipeline(number)["status"] == "paused"


FLAKY = """
pipelines:
  default:
    - step:
        name: Build
        script:
          - mkdir -p dist && echo "built once" > dist/app.txt
        artifacts: [dist/**]
    - step:
        name: Test
        script:
          - cat dist/app.txt
          - test "$TESTS_PASS" = yes
    - step:
        name: Ship
        script: [echo shipped]
"""


def test_rerun_failed_runs_only_what_failed_as_a_new_attempt(hosted: Any) -> None:
    repo = hosted(FLAKY)
    number = repo.trigger()["number"]
    failed = repo.wait(number, {"failed"})
    assert [s["status"] for s in failed["steps"]] == ["passed", "failed", "not run"]
    assert repo.step(failed, "Ship")["reason"] == "an earlier step failed"
    build_started = repo.step(failed, "Build")["started_at"]

    response = repo.api.client.put(
        "/api/v1/repos/shop/variables/TESTS_PASS",
        json={"value": "yes"},
        headers=repo.api.headers(),
    )
    assert response.status_code == 200, response.text
    rerun = repo.api.post(f"/repos/shop/pipelines/{number}/rerun", {"all": False})
    assert rerun.status_code == 202, rerun.text
    done = repo.wait(number, {"passed", "failed"})
    assert done["status"] == "passed"
    build, test, ship = done["steps"]
    assert (build["attempt"], test["attempt"], ship["attempt"]) == (1, 2, 1)
    assert build["started_at"] == build_started  # kept, not run again
    assert "built once" in repo.log(number, "Test")  # the artifact of the earlier attempt
    assert '+ test "$TESTS_PASS" = yes' in repo.log(number, "Test", attempt=1)
    assert repo.api.post(f"/repos/shop/pipelines/{number}/rerun", {"all": False}).status_code == 409


def test_rerun_all_is_a_new_pipeline_for_the_same_commit(hosted: Any) -> None:
    repo = hosted(FLAKY)
    first = repo.trigger()
    repo.wait(first["number"], {"failed"})
    again = repo.api.post(f"/repos/shop/pipelines/{first['number']}/rerun", {"all": True})
    assert again.status_code == 202, again.text
    second = again.json()
    assert second["number"] == first["number"] + 1
    assert (second["commit"], second["rerun_of"], second["trigger"]) == (
        first["commit"],
        first["number"],
        "rerun",
    )
    assert repo.wait(second["number"], {"failed"})["steps"][0]["status"] == "passed"


CUSTOM = """
pipelines:
  default:
    - step:
        script: [echo default]
  custom:
    deploy:
      - variables:
          - name: ENVIRONMENT
            default: staging
            allowed-values: [staging, production]
          - name: VERSION
      - step:
          name: Deploy
          script:
            - echo "deploying $VERSION to $ENVIRONMENT from $BITBUCKET_BRANCH"
"""


def test_a_custom_pipeline_runs_with_its_variables(hosted: Any) -> None:
    repo = hosted(CUSTOM)
    started = repo.trigger(custom="deploy", variables={"VERSION": "1.4.2"})
    assert (started["trigger"], started["pipeline"]) == ("custom", "custom.deploy")
    assert repo.wait(started["number"], {"passed", "failed"})["status"] == "passed"
    assert "deploying 1.4.2 to staging from main" in repo.log(started["number"], "Deploy")


def test_a_custom_pipeline_refuses_a_value_it_does_not_allow(hosted: Any) -> None:
    repo = hosted(CUSTOM)
    refused = repo.trigger(custom="deploy", variables={"ENVIRONMENT": "moon"}, expect=422)
    assert "moon" in refused["detail"]
    assert repo.api.get("/repos/shop/pipelines") == []
    missing = repo.trigger(custom="nope", expect=422)
    assert "nope" in missing["detail"]


def test_a_branch_without_a_commit_is_a_clear_404(hosted: Any) -> None:
    repo = hosted(CUSTOM)
    assert "no commit 'nowhere'" in repo.trigger(branch="nowhere", expect=404)["detail"]


SLOW = """
pipelines:
  default:
    - step:
        name: Long
        script:
          - echo started-long
          - sleep 300
    - step:
        name: Later
        script: [echo later]
"""


def test_cancel_kills_the_running_step_and_nothing_else_starts(hosted: Any) -> None:
    repo = hosted(SLOW)
    number = repo.trigger()["number"]
    deadline = time.monotonic() + 30
    while "started-long" not in _log_or_empty(repo, number, "Long"):
        assert time.monotonic() < deadline, repo.pipeline(number)
        time.sleep(0.05)
    stopped_at = time.monotonic()
    assert repo.api.post(f"/repos/shop/pipelines/{number}/cancel").status_code == 202
    done = repo.wait(number, {"cancelled"}, seconds=20)
    assert time.monotonic() - stopped_at < 10
    long, later = done["steps"]
    assert (long["status"], long["reason"]) == ("cancelled", "stopped")
    assert (later["status"], later["reason"]) == ("not run", "the pipeline was stopped")
    assert repo.api.post(f"/repos/shop/pipelines/{number}/cancel").status_code == 409


def _log_or_empty(repo: Any, number: int, name: str) -> str:
    key = repo.step(repo.pipeline(number), name)["key"]
    response = repo.api.client.get(
        f"/api/v1/repos/shop/pipelines/{number}/steps/{key}/log", headers=repo.api.headers()
    )
    return response.text if response.status_code == 200 else ""


FAIL_FAST = """
pipelines:
  default:
    - parallel:
        fail-fast: true
        steps:
          - step:
              name: Bad
              script: [sleep 0.5, exit 3]
          - step:
              name: Slow
              script: [sleep 60]
    - step:
        name: After
        script: [echo after]
"""


def test_fail_fast_stops_the_running_sibling(hosted: Any) -> None:
    repo = hosted(FAIL_FAST)
    number = repo.trigger()["number"]
    started = time.monotonic()
    done = repo.wait(number, {"failed", "passed"}, seconds=40)
    assert time.monotonic() - started < 30
    statuses = {s["name"]: (s["status"], s["reason"]) for s in done["steps"]}
    assert statuses == {
        "Bad": ("failed", "script exited with code 3"),
        "Slow": ("cancelled", "fail-fast: 'Bad' failed"),
        "After": ("not run", "an earlier step failed"),
    }


NUMBERED = """
pipelines:
  default:
    - step:
        name: Show
        script: [echo "build=$BITBUCKET_BUILD_NUMBER repo=$BITBUCKET_REPO_SLUG"]
"""


def test_build_numbers_count_per_repository(hosted: Any) -> None:
    shop = hosted(NUMBERED, name="shop")
    blog = hosted(NUMBERED, name="blog")
    numbers = [shop.trigger()["number"], shop.trigger()["number"], blog.trigger()["number"]]
    assert numbers == [1, 2, 1]
    shop.wait(2, {"passed"})
    blog.wait(1, {"passed"})
    assert "build=2 repo=shop" in shop.log(2, "Show")
    assert "build=1 repo=blog" in blog.log(1, "Show")


def test_a_developer_triggers_and_a_viewer_cannot(hosted: Any) -> None:
    repo = hosted(NUMBERED)
    viewer = repo.api.token_for(Role.VIEWER, "watcher")
    developer = repo.api.token_for(Role.DEVELOPER, "dev")
    body = {"branch": "main"}
    assert repo.api.post("/repos/shop/pipelines", body, token=viewer).status_code == 403
    started = repo.api.post("/repos/shop/pipelines", body, token=developer)
    assert started.status_code == 201
    assert started.json()["triggered_by"] == "dev"
    assert repo.api.client.get("/api/v1/repos/shop/pipelines").status_code == 401
