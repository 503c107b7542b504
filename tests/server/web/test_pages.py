"""The web UI's pages, server-rendered: sign-in, CSRF, the dashboard, the pipelines list,
a pipeline's graph and actions, the deployments board, settings, badges."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from shipline.store.models import Role

PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Build
          script: [mkdir -p dist, echo "<b>bold</b> app" > dist/app.txt]
          artifacts: [dist/**]
      - parallel:
          steps:
            - step:
                name: Unit
                script: [echo unit]
            - step:
                name: Lint
                script: [echo lint]
      - step:
          name: Staging
          deployment: staging
          script: [cat dist/app.txt]
      - step:
          name: Production
          deployment: production
          trigger: manual
          script: [echo prod]
"""


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_pages_need_a_sign_in_and_a_wrong_secret_is_refused(api: Any) -> None:
    client = TestClient(api.client.app)
    answer = client.get("/r/shop", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/r/shop"
    form = client.get("/login")
    wrong = client.post("/login", data={"name": "admin", "secret": "nope",
                                        "csrf": csrf_of(form.text)})  # fmt: skip
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    no_csrf = client.post("/login", data={"name": "admin", "secret": api.admin_token})
    assert no_csrf.status_code == 403


def test_the_pages_of_a_pipeline_that_deployed(hosted: Any, sign_in: Any) -> None:
    repo = hosted(PIPELINE)
    number = repo.trigger()["number"]
    repo.wait(number, {"paused"})
    browser = sign_in(repo.api)

    home = browser.get("/")
    assert home.status_code == 200
    assert f'href="/r/shop/p/{number}"' in home.text
    listing = browser.get("/r/shop?status=paused")
    assert f"#{number}" in listing.text
    assert "No pipelines match" in browser.get("/r/shop?status=failed").text

    view = browser.get(f"/r/shop/p/{number}")
    assert view.status_code == 200
    assert "Why this pipeline:" in view.text
    assert view.text.count('class="node ') == 5
    assert "parallel" in view.text
    assert "Deploy to production" in view.text  # the admin may deploy
    assert f"/r/shop/p/{number}/s/step-1/artifacts/dist/app.txt" in view.text
    artifact = browser.get(f"/r/shop/p/{number}/s/step-1/artifacts/dist/app.txt")
    assert artifact.text == "<b>bold</b> app\n"
    assert browser.get(f"/r/shop/p/{number}/s/step-1/artifacts/../../secret.key").status_code == 404

    board = browser.get("/r/shop/deployments")
    assert board.status_code == 200
    assert 'data-environment="staging"' in board.text
    assert "Promote #1 to production" in board.text

    # Run the manual step from the page, with the form's CSRF token.
    action = f"/r/shop/p/{number}/s/step-5/run"
    refused = browser.post(action, data={}, follow_redirects=False)
    assert refused.status_code == 403
    done = browser.post(action, data={"csrf": csrf_of(view.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert repo.wait(number, {"passed", "failed"})["status"] == "passed"
    assert 'data-environment="production"' in browser.get("/r/shop/deployments").text


def test_roll_back_is_offered_only_when_there_is_an_earlier_commit_to_go_back_to(
    hosted: Any, sign_in: Any
) -> None:
    repo = hosted(PIPELINE)
    first = repo.commit({"a.txt": "one"}, "first release")
    repo.wait(repo.trigger()["number"], {"paused"})
    browser = sign_in(repo.api)
    assert "Roll back" not in browser.get("/r/shop/deployments").text  # staging ran one commit
    second = repo.commit({"a.txt": "two"}, "second release")
    repo.wait(repo.trigger()["number"], {"paused"})
    board = browser.get("/r/shop/deployments").text
    assert "Roll back" in board
    assert f"back from {second[:12]} to {first[:12]}?" in board


QUOTED = """
pipelines:
  default:
    - step:
        name: "Ship it'); window.pwned = ('"
        trigger: manual
        script: [echo shipped]
"""


def test_names_in_confirmation_questions_are_text_never_script(hosted: Any, sign_in: Any) -> None:
    repo = hosted(QUOTED)
    number = repo.trigger()["number"]
    repo.wait(number, {"paused"})
    html = sign_in(repo.api).get(f"/r/shop/p/{number}").text
    assert "onsubmit" not in html  # no JavaScript is built from names
    assert 'data-confirm="Run Ship it&#39;); window.pwned = (&#39;?"' in html


def test_a_viewer_sees_no_deploy_or_rollback_buttons(hosted: Any, sign_in: Any) -> None:
    repo = hosted(PIPELINE)
    number = repo.trigger()["number"]
    repo.wait(number, {"paused"})
    token = repo.api.token_for(Role.VIEWER, "watcher")
    browser = sign_in(repo.api, "watcher", token)
    view = browser.get(f"/r/shop/p/{number}").text
    assert "Deploy to production" not in view
    assert "Stop" not in view
    board = browser.get("/r/shop/deployments").text
    assert "Roll back" not in board
    assert "Promote" not in board
    assert browser.get("/r/shop/settings").status_code == 403
    forged = browser.post(f"/r/shop/p/{number}/s/step-5/run",
                          data={"csrf": csrf_of(view)}, follow_redirects=False)  # fmt: skip
    assert forged.status_code == 403


def test_settings_pages_and_badges(hosted: Any, sign_in: Any) -> None:
    repo = hosted(PIPELINE)
    browser = sign_in(repo.api)
    page = browser.get("/r/shop/settings")
    assert page.status_code == 200
    saved = browser.post("/r/shop/settings/variables", data={
        "csrf": csrf_of(page.text), "name": "API_KEY", "value": "s3cr3t-value-42",
        "secured": "on", "environment": "production"}, follow_redirects=True)  # fmt: skip
    assert "saved API_KEY" in saved.text
    assert "s3cr3t-value-42" not in saved.text
    assert "Deployment variables: production" in saved.text
    members = browser.get("/settings")
    form = {"csrf": csrf_of(members.text), "name": "dana", "role": "deployer"}
    form["password"] = "correct horse"
    added = browser.post("/settings/users", data=form, follow_redirects=True)
    assert "added dana" in added.text
    dana = sign_in(repo.api, "dana", "correct horse")
    assert "dana" in dana.get("/account").text
    number = repo.trigger()["number"]
    repo.wait(number, {"paused"})
    badge = TestClient(repo.api.client.app).get("/badges/shop/main.svg")  # no sign-in
    assert badge.status_code == 200
    assert badge.headers["content-type"].startswith("image/svg+xml")
    assert ">paused<" in badge.text


def test_the_charts_page_draws_durations_and_dora(hosted: Any, sign_in: Any) -> None:
    repo = hosted(PIPELINE)
    number = repo.trigger()["number"]
    repo.wait(number, {"paused"})
    repo.api.post(f"/repos/shop/pipelines/{number}/steps/step-5/run")
    repo.wait(number, {"passed"})
    browser = sign_in(repo.api)
    charts = browser.get("/r/shop/charts")
    assert charts.status_code == 200
    chart = '<svg xmlns="http://www.w3.org/2000/svg" class="chart"'
    assert charts.text.count(chart) == 5  # durations + the four keys
    assert f'href="/r/shop/p/{number}"' in charts.text  # a dot links to its pipeline
    assert "Deployments (30 days)" in charts.text
