"""The web UI in a real browser (Debian's Chromium via Playwright) against a real
`shipline serve`: sign in → push a repository → watch the pipeline and its log live → run
the manual production step → roll back; a viewer sees no deploy buttons; HTML in a log
renders as text. Screenshots of each page go to docs/screenshots/ (shown in the README)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from shipline.store.models import Role

SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
IDENTITY = ["-c", "user.name=Dana Developer", "-c", "user.email=dana@shipline.invalid"]
PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Build
          script:
            - echo "building $BITBUCKET_COMMIT"
            - mkdir -p dist && echo "webshop build $BITBUCKET_BUILD_NUMBER" > dist/app.txt
            - for i in 1 2 3 4 5 6; do echo "compiling module $i"; sleep 0.4; done
            - echo '<script>window.pwned = 1</script><b>not bold</b>'
            - printf '\\033[32mall green\\033[0m\\n'
          artifacts: [dist/**]
      - parallel:
          steps:
            - step:
                name: Unit tests
                script: [echo "42 tests passed"]
            - step:
                name: Lint
                script: [echo "no warnings"]
      - step:
          name: Deploy to staging
          deployment: staging
          script: [cat dist/app.txt]
      - step:
          name: Deploy to production
          deployment: production
          trigger: manual
          script: [cat dist/app.txt, echo "live in production"]
"""


def _api(served: Any, method: str, path: str, token: str | None = None, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token or served.admin_token}"}
    response = httpx.request(
        method, f"{served.url}/api/v1{path}", json=body or None, headers=headers
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _push(repo: Path, served: Any, message: str) -> None:
    subprocess.run(["git", *IDENTITY, "commit", "-q", "--allow-empty", "-m", message], cwd=repo,
                   check=True)  # fmt: skip
    remote = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/webshop.git"
    subprocess.run(["git", *IDENTITY, "push", "-q", remote, "HEAD:main"], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip


def _wait(served: Any, number: int, until: set[str], seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        pipeline = _api(served, "GET", f"/repos/webshop/pipelines/{number}")
        if pipeline["status"] in until:
            return pipeline  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, pipeline
        time.sleep(0.1)


def _shot(page: Any, name: str) -> None:
    if os.environ.get("SHIPLINE_SCREENSHOTS"):  # refreshed on demand, not in every CI run
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_push_watch_promote_roll_back_in_the_browser(
    served: Any, make_repo: Any, browser_page: Any, web_login: Any
) -> None:
    page = browser_page
    asked: list[str] = []  # the confirmations, answered yes unless `refuse` says no once
    refuse: list[bool] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        (dialog.dismiss if refuse and refuse.pop() else dialog.accept)()

    page.on("dialog", answer)
    _api(served, "POST", "/repos", name="webshop")
    repo = make_repo(PIPELINE)
    web_login(page, served.url, "admin", served.admin_token)

    _push(repo, served, "First release")
    page.goto(f"{served.url}/r/webshop/p/1")
    build = page.locator('.node[data-step="step-1"]')
    build.locator(".badge", has_text="running").wait_for()  # live, no reload
    # The log of the running step grows in front of us.
    build.locator("a.name").click()
    page.wait_for_url(f"{served.url}/r/webshop/p/1/s/step-1")
    page.get_by_text("compiling module 1", exact=True).wait_for()
    assert page.get_by_text("compiling module 6", exact=True).count() == 0  # not yet printed
    page.get_by_text("compiling module 6", exact=True).wait_for()
    # HTML in a log is text; colours are colours.
    page.get_by_text("<script>window.pwned = 1</script><b>not bold</b>", exact=True).wait_for()
    assert page.evaluate("window.pwned") is None
    assert page.locator("main b", has_text="not bold").count() == 0
    assert page.get_by_text("all green", exact=True).evaluate("e => getComputedStyle(e).color") != (
        page.get_by_text("compiling module 1", exact=True).evaluate(
            "e => getComputedStyle(e).color"
        )
    )
    _shot(page, "log")

    page.goto(f"{served.url}/r/webshop/p/1")
    page.locator('.node[data-step="step-4"] .badge', has_text="passed").wait_for(timeout=60_000)
    page.locator('.node[data-step="step-5"] .badge', has_text="paused").wait_for()
    assert page.locator("#pipeline-status").inner_text() == "PAUSED"
    _shot(page, "pipeline")

    page.goto(f"{served.url}/r/webshop/p/1")
    refuse.append(True)  # "no" to the question: nothing happens
    page.get_by_role("button", name="Deploy to production").click()
    assert asked[-1] == "Run Deploy to production and deploy to production?"
    page.wait_for_timeout(500)
    assert _api(served, "GET", "/repos/webshop/pipelines/1")["steps"][4]["status"] == "paused"
    page.get_by_role("button", name="Deploy to production").click()
    page.locator('.node[data-step="step-5"] .badge', has_text="passed").wait_for(timeout=60_000)
    assert _wait(served, 1, {"passed"})["steps"][4]["approved_by"] == "admin"

    _push(repo, served, "Second release")
    _wait(served, 2, {"paused"})
    page.goto(f"{served.url}/r/webshop/deployments")
    page.get_by_role("button", name="Promote #2 to production").click()
    _wait(served, 2, {"passed"})
    page.goto(f"{served.url}/r/webshop/deployments")
    production = page.locator('section.env[data-environment="production"]')
    second = _api(served, "GET", "/repos/webshop/pipelines/2")["commit"]
    production.get_by_text(second[:12]).wait_for()
    _shot(page, "deployments")
    production.get_by_role("button", name="Roll back").click()
    page.wait_for_url(f"{served.url}/r/webshop/p/3")
    _wait(served, 3, {"passed"})
    first = _api(served, "GET", "/repos/webshop/pipelines/1")["commit"]
    assert asked[-1] == f"Roll production back from {second[:12]} to {first[:12]}?"
    env = _api(served, "GET", "/repos/webshop/environments/production")
    assert (env["current"]["commit"], env["current"]["kind"]) == (first, "rollback")
    page.goto(f"{served.url}/r/webshop/deployments")
    page.locator('section.env[data-environment="production"]').get_by_text(
        first[:12]
    ).first.wait_for()

    pages = {
        "dashboard": "/",
        "pipelines": "/r/webshop",
        "charts": "/r/webshop/charts",
        "settings": "/r/webshop/settings",
    }
    for name, path in pages.items():
        page.goto(f"{served.url}{path}")
        _shot(page, name)

    # A viewer sees everything but no button that deploys, rolls back or stops.
    _api(served, "POST", "/users", name="val", role=Role.VIEWER.value, password="viewer-pass-1")
    viewer = page.context.browser.new_context().new_page()
    web_login(viewer, served.url, "val", "viewer-pass-1")
    viewer.goto(f"{served.url}/r/webshop/deployments")
    assert viewer.get_by_role("button", name="Roll back").count() == 0
    assert viewer.get_by_role("button", name="Promote").count() == 0
    viewer.goto(f"{served.url}/r/webshop/p/2")
    assert viewer.locator("button").filter(has_text="Deploy").count() == 0
    assert viewer.get_by_role("button", name="Stop").count() == 0
    viewer.context.close()
