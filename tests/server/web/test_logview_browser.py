"""The log viewer in a real browser (Chromium through Playwright) against a real `shipline
serve`: a finished step's 200,000-line log opens fast, scrolls, jumps to `#L150000` with only
a screenful of rows in the DOM, shows HTML in a log as text, and a running step's log grows
live on the page."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
BIG = 200_000
HTML_LINE = "start <script>alert(1)</script> <b>bold</b> & <img src=x onerror=alert(2)>"
PIPELINE = f"""
pipelines:
  default:
    - parallel:
        steps:
          - step:
              name: Big
              script:
                - echo '{HTML_LINE}'
                - seq 1 {BIG} | sed 's/^/line of the big log, number /'
                - echo finished
          - step:
              name: Slow
              script:
                - for i in $(seq 1 240); do echo "tick $i"; sleep 0.25; done
"""
IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]

pytestmark = pytest.mark.timeout(180)


def open_chromium(request: pytest.FixtureRequest) -> Any:
    """Chromium through Playwright, closed when the test ends. Called in the test itself, so
    that a machine without Chromium fails the test (it never skips)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the log viewer's browser test needs it "
            "(apt-get install -y chromium; ./scripts/test installs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    request.addfinalizer(playwright.stop)
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    request.addfinalizer(browser.close)
    return browser


def wait_for(condition: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)
    return value


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_log_viewer_in_chromium(
    served: Any, make_repo: Any, request: pytest.FixtureRequest
) -> None:
    chromium = open_chromium(request)
    api = httpx.Client(base_url=f"{served.url}/api/v1",
                       headers={"Authorization": f"Bearer {served.admin_token}"})  # fmt: skip
    request.addfinalizer(api.close)
    assert api.post("/repos", json={"name": "shop"}).status_code == 201
    repo = make_repo(PIPELINE)
    remote = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/shop.git"
    pushed = subprocess.run(["git", *IDENTITY, "push", remote, "HEAD:main"], cwd=repo,
                            capture_output=True, text=True)  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr + served.output()

    def steps() -> dict[str, Any]:
        return {s["name"]: s for s in api.get("/repos/shop/pipelines/1").json()["steps"]}

    big = wait_for(lambda: steps()["Big"]["status"] == "passed" and steps()["Big"], 60, "Big")
    slow = wait_for(lambda: steps()["Slow"]["status"] == "running" and steps()["Slow"], 30, "Slow")
    raw = api.get(f"/repos/shop/pipelines/1/steps/{big['key']}/log").text.split("\n")[:-1]
    first_row = raw.index("line of the big log, number 1") + 1  # the line number it has

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{served.url}/r/shop/p/1/s/{big['key']}", wait_until="commit")
    assert "/login" in page.url  # signed out: sent to sign in first
    page.fill("#name", "admin")
    page.fill("#secret", served.admin_token)
    with page.expect_navigation():
        page.click("button[type=submit]")

    # Signing in led back to the page; opened again, timed: the first lines show at once.
    began = time.perf_counter()
    page.goto(f"{served.url}/r/shop/p/1/s/{big['key']}")
    page.wait_for_selector('.lv-row[data-n="1"]:not(.lv-wait)')
    opened = time.perf_counter() - began
    assert opened < 3, f"the first lines took {opened:.2f} s"
    text_of = "n => document.querySelector(`.lv-row[data-n='${n}'] .lv-t`).textContent"
    assert page.evaluate(text_of, 1).startswith("+ echo")
    assert page.evaluate(text_of, 2) == HTML_LINE  # shown as text...
    injected = "document.querySelectorAll('.lv-lines script, .lv-lines b, .lv-lines img').length"
    assert page.evaluate(injected) == 0  # ...and no element came out of it
    assert page.evaluate(text_of, first_row) == "line of the big log, number 1"

    # A command's section folds up to the next command, and unfolds again.
    after_3 = "document.querySelector('.lv-row[data-n=\"3\"]').nextElementSibling.dataset.n"
    assert page.evaluate(text_of, 3).startswith("+ seq")
    page.click('.lv-row[data-n="3"] .lv-fold')
    page.wait_for_selector('.lv-row[data-n="3"] .lv-folded')
    assert int(page.evaluate(after_3)) == first_row + BIG  # "+ echo finished"
    page.click('.lv-row[data-n="3"] .lv-fold')
    page.wait_for_selector('.lv-row[data-n="4"]')
    assert int(page.evaluate(after_3)) == 4

    # Search: the match is scrolled to, its line marked and the text highlighted.
    page.fill("#lv-q", "NUMBER 123456")
    page.press("#lv-q", "Enter")
    found = page.wait_for_selector(".lv-row.lv-cur:not(.lv-wait) mark")
    assert found.text_content() == "number 123456"
    assert page.text_content("#lv-count") == "1 of 1"
    assert page.get_attribute(".lv-row.lv-cur", "data-n") == str(first_row + 123455)

    visible_rows = """() => {
        const view = document.querySelector('.lv-scroll').getBoundingClientRect();
        return [...document.querySelectorAll('.lv-row')].filter(row => {
            const box = row.getBoundingClientRect();
            return box.top >= view.top && box.bottom <= view.bottom;
        }).map(row => [Number(row.dataset.n), row.querySelector('.lv-t').textContent]);
    }"""

    def rows_in_view() -> list[Any]:
        rows = page.evaluate(visible_rows)
        return rows if rows and all(text.strip() for _, text in rows) else []

    # The middle of the log: right line numbers, right lines, a screenful of rows.
    page.evaluate(
        "(s => { s.scrollTop = s.scrollHeight / 2; })(document.querySelector('.lv-scroll'))"
    )
    middle = wait_for(rows_in_view, 10, "the middle of the log loaded")
    total_lines = len(raw)
    assert abs(middle[0][0] - total_lines / 2) < 100, middle[0]
    for number, text in middle:
        assert text == f"line of the big log, number {number - first_row + 1}"
    assert [n for n, _ in middle] == list(range(middle[0][0], middle[0][0] + len(middle)))
    row_count = page.evaluate("document.querySelectorAll('.lv-row').length")
    assert 20 < row_count < 500, row_count  # never the whole log in the DOM

    # A link to a line: it is in view, marked, and holds the right text.
    page.goto("about:blank")  # a fresh load, not a change of the hash
    page.goto(f"{served.url}/r/shop/p/1/s/{big['key']}#L150000")
    target = page.wait_for_selector('.lv-row.lv-target[data-n="150000"]:not(.lv-wait) .lv-t')
    assert target.text_content() == f"line of the big log, number {150000 - first_row + 1}"
    assert 150000 in [n for n, _ in wait_for(rows_in_view, 10, "#L150000 in view")]
    assert page.evaluate("document.querySelectorAll('.lv-row').length") < 500
    page.click('.lv-row[data-n="150002"] .lv-n')  # a line number is a link to that line
    assert page.evaluate("location.hash") == "#L150002"
    page.wait_for_selector('.lv-row.lv-target[data-n="150002"]')

    # A running step: new lines appear while the page is open, the view following them.
    page.goto(f"{served.url}/r/shop/p/1/s/{slow['key']}")
    page.wait_for_selector(".lv-row:not(.lv-wait)")
    last_tick = """() => {
        const ticks = [...document.querySelectorAll('.lv-row .lv-t')].map(t => t.textContent)
            .filter(t => t.startsWith('tick ')).map(t => Number(t.slice(5)));
        return ticks.length ? Math.max(...ticks) : 0;
    }"""
    before = page.evaluate(last_tick)
    wait_for(lambda: page.evaluate(last_tick) >= before + 4, 20, "new ticks on the page")
    at_bottom = "(() => { const s = document.querySelector('.lv-scroll'); " \
                "return s.scrollTop + s.clientHeight >= s.scrollHeight - 20; })()"  # fmt: skip
    assert page.evaluate(at_bottom)
    assert page.evaluate("document.querySelectorAll('.lv-row').length") < 500

    assert api.post("/repos/shop/pipelines/1/cancel").status_code == 202
    page.wait_for_selector("#lv-status:not(:has-text('running'))", timeout=20_000)
    assert errors == []
    assert dialogs == []  # no alert() from the log ever ran
