"""The log viewer's routes on the in-process server, with real shell steps: the page, lines
as escaped HTML with colours carried, search, command sections, attempts, who may read."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shipline.server.logs import LogKey
from shipline.server.web import logs as web_logs
from shipline.store.models import Pipeline, Role

pytestmark = pytest.mark.timeout(120)

SCRIPT = r"""
pipelines:
  default:
    - step:
        name: Build <app>
        script:
          - echo '<script>alert(1)</script> and <b>bold</b> & more'
          - printf '\033[31mred\033[0m plain \033[1;32mgreen\n'
          - printf 'still green\033[0m\n'
          - seq 1 3000 | sed 's/^/row /'
          - echo done
"""


def signed_in(api: Any, name: str = "admin", secret: str | None = None) -> TestClient:
    """A browser-like client signed in through the /login form."""
    client = TestClient(api.client.app)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = client.post("/login", data={"name": name, "secret": secret or api.admin_token,
                                          "csrf": csrf.group(1), "next": "/"},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return client


def finished(hosted: Any, pipeline: str = SCRIPT) -> tuple[Any, int, str, list[str]]:
    """A repository whose pipeline #1 ran; its step's key and the lines of its log."""
    repo = hosted(pipeline)
    number = repo.trigger()["number"]
    done = repo.wait(number, {"passed", "failed"})
    key = done["steps"][0]["key"]
    raw = repo.log(number, done["steps"][0]["name"])
    return repo, number, key, raw.split("\n")[:-1]  # the log ends with a line break


def get_json(client: TestClient, path: str) -> Any:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_lines_come_back_escaped_with_colours_carried_and_sections_marked(hosted: Any) -> None:
    repo, number, key, raw = finished(hosted)
    client = signed_in(repo.api)
    base = f"/r/shop/p/{number}/s/{key}"
    first = get_json(client, f"{base}/lines?start=1&count=50")
    assert first["total"] == len(raw)
    assert first["start"] == 1
    assert len(first["lines"]) == 50
    html = first["lines"]
    at = raw.index("<script>alert(1)</script> and <b>bold</b> & more")
    assert (
        html[at] == "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt; &amp; more"
    )
    assert not any("<script" in line or "<b>" in line for line in html)
    red = next(n for n, line in enumerate(raw) if line.startswith("\x1b[31mred"))
    assert (
        html[red]
        == '<span class="ansi-fg1">red</span> plain <span class="ansi-b ansi-fg2">green</span>'
    )
    green = raw.index("still green\x1b[0m")
    assert html[green] == '<span class="ansi-b ansi-fg2">still green</span>'
    commands = [n + 1 for n, line in enumerate(raw[:50]) if line.startswith("+ ")]
    assert first["sections"] == commands
    assert len(commands) >= 4

    # A range read on its own: colours still carried in from the lines before it.
    alone = get_json(client, f"{base}/lines?start={green + 1}&count=1")
    assert alone["lines"] == ['<span class="ansi-b ansi-fg2">still green</span>']
    middle = get_json(client, f"{base}/lines?start=2000&count=3")
    assert middle["lines"] == raw[1999:2002]
    assert middle["lines"][0].startswith("row ")
    capped = get_json(client, f"{base}/lines?start=2&count=100000")
    assert len(capped["lines"]) == min(web_logs.MAX_COUNT, len(raw) - 1)
    assert get_json(client, f"{base}/lines?start={len(raw) + 1}")["lines"] == []
    assert client.get(f"{base}/lines?start=0").status_code == 422


def test_search_ignores_case_and_is_bounded(hosted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, number, key, raw = finished(hosted)
    client = signed_in(repo.api)
    base = f"/r/shop/p/{number}/s/{key}"
    found = get_json(client, f"{base}/search?q=ROW%2029")
    expected = [n + 1 for n, line in enumerate(raw) if "row 29" in line.lower()]
    assert found == {"matches": expected, "truncated": False}
    assert len(expected) == 1 + 10 + 100  # row 29, 290-299, 2900-2999
    script = get_json(client, f"{base}/search?q=%3Cscript%3E")["matches"]
    assert script == [n + 1 for n, line in enumerate(raw) if "<script>" in line]
    assert get_json(client, f"{base}/search?q=red%20plain")["matches"] != []  # across a colour code
    monkeypatch.setattr(web_logs, "MAX_MATCHES", 10)
    few = get_json(client, f"{base}/search?q=row")
    assert few["truncated"] is True
    assert few["matches"] == [n + 1 for n, line in enumerate(raw) if "row" in line][:10]
    assert client.get(f"{base}/search?q=").status_code == 422
    assert client.get(f"{base}/search").status_code == 422


def test_a_section_ends_at_the_next_command(hosted: Any) -> None:
    repo, number, key, raw = finished(hosted)
    client = signed_in(repo.api)
    base = f"/r/shop/p/{number}/s/{key}"
    seq = next(n + 1 for n, line in enumerate(raw) if line.startswith("+ seq"))
    done = next(n + 1 for n, line in enumerate(raw) if line == "+ echo done")
    assert get_json(client, f"{base}/section?start={seq}") == {"start": seq, "end": done}
    assert get_json(client, f"{base}/section?start={done}") == {"start": done, "end": None}


def test_the_page_shows_the_step_and_embeds_its_first_lines_escaped(hosted: Any) -> None:
    repo, number, key, raw = finished(hosted)
    client = signed_in(repo.api)
    page = client.get(f"/r/shop/p/{number}/s/{key}")
    assert page.status_code == 200
    text = page.text
    assert "Build &lt;app&gt;" in text
    assert "<app>" not in text
    assert re.search(r'<span class="badge s-passed" id="lv-status">passed</span>', text)
    assert f'href="/api/v1/repos/shop/pipelines/{number}/steps/{key}/log?attempt=1"' in text
    assert 'id="lv-q"' in text
    assert "lv-attempts" not in text  # one attempt: no selector
    assert 'data-stream=""' in text  # finished: nothing to follow
    assert '<link rel="stylesheet" href="/static/logview.css">' in text
    assert "<script>alert" not in text
    assert "<b>bold" not in text
    embedded = re.search(
        r'<script type="application/json" id="lv-initial">(.*?)</script>', text, re.S
    )
    assert embedded
    initial = json.loads(embedded.group(1))
    assert initial["total"] == len(raw)
    assert initial["start"] == 1
    assert len(initial["lines"]) == web_logs.FIRST_LINES
    assert client.get("/static/logview.js").status_code == 200
    assert client.get("/static/logview.css").status_code == 200


def test_a_viewer_may_read_and_a_signed_out_browser_is_sent_to_sign_in(hosted: Any) -> None:
    repo, number, key, raw = finished(hosted)
    token = repo.api.token_for(Role.VIEWER, "watcher")
    viewer = signed_in(repo.api, "watcher", token)
    base = f"/r/shop/p/{number}/s/{key}"
    assert viewer.get(base).status_code == 200
    assert get_json(viewer, f"{base}/lines?count=5")["total"] == len(raw)
    assert get_json(viewer, f"{base}/search?q=done")["matches"]
    assert get_json(viewer, f"{base}/section?start=1")["start"] == 1

    anonymous = TestClient(repo.api.client.app)
    for path in (base, f"{base}/lines?start=1", f"{base}/search?q=x", f"{base}/section?start=1"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/r/shop/p/")


def test_unknown_steps_and_attempts_are_404(hosted: Any) -> None:
    repo, number, key, _ = finished(hosted)
    client = signed_in(repo.api)
    for path in (f"/r/shop/p/{number}/s/nope", f"/r/shop/p/99/s/{key}", f"/r/nope/p/1/s/{key}",
                 f"/r/shop/p/{number}/s/{key}?attempt=2",
                 f"/r/shop/p/{number}/s/{key}/lines?attempt=2"):  # fmt: skip
        assert client.get(path).status_code == 404, path


FLAKY = """
pipelines:
  default:
    - step:
        name: Flaky
        script:
          - if [ "$MODE" != fixed ]; then echo "attempt broken"; exit 3; fi
          - echo "attempt fixed"
"""


def test_each_attempt_of_a_rerun_step_has_its_log(hosted: Any) -> None:
    repo = hosted(FLAKY)
    api = repo.api

    def put(value: str) -> Any:
        body = {"value": value, "secured": False}
        return api.client.put("/api/v1/repos/shop/variables/MODE", json=body, headers=api.headers())

    assert put("broken").status_code == 200
    number = repo.trigger()["number"]
    key = repo.wait(number, {"passed", "failed"})["steps"][0]["key"]
    assert put("fixed").status_code == 200
    assert api.post(f"/repos/shop/pipelines/{number}/rerun", {"all": False}).status_code == 202
    assert repo.wait(number, {"passed", "failed"})["status"] == "passed"

    client = signed_in(api)
    base = f"/r/shop/p/{number}/s/{key}"
    page = client.get(base).text
    assert f'href="{base}?attempt=1"' in page
    assert re.search(rf'href="{base}\?attempt=2" class="on"', page)
    assert "/log?attempt=2" in page
    assert "/log?attempt=1" in client.get(f"{base}?attempt=1").text
    one = get_json(client, f"{base}/lines?attempt=1&count=100")["lines"]
    two = get_json(client, f"{base}/lines?count=100")["lines"]
    assert "attempt broken" in one
    assert "attempt fixed" not in one
    assert "attempt fixed" in two
    assert "attempt broken" not in two


SLOW = """
pipelines:
  default:
    - step:
        name: Slow
        script:
          - echo started
          - sleep 30
"""


def test_a_running_step_is_followed_from_the_end_of_its_log(hosted: Any) -> None:
    repo = hosted(SLOW)
    number = repo.trigger()["number"]
    key = repo.pipeline(number)["steps"][0]["key"]
    deadline = time.monotonic() + 30
    client = signed_in(repo.api)
    base = f"/r/shop/p/{number}/s/{key}"
    while "sleep 30" not in str(get_json(client, f"{base}/lines")["lines"]):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    page = client.get(base).text
    stream = f"/api/v1/repos/shop/pipelines/{number}/steps/{key}/log/stream"
    assert f'data-stream="{stream}"' in page
    size = repo.api.state.logs.size(log_key(repo, number, key))
    assert f'data-offset="{size}"' in page
    assert re.search(r'id="lv-status">running<', page)
    assert repo.api.post(f"/repos/shop/pipelines/{number}/cancel").status_code == 202
    repo.wait(number, {"cancelled", "failed", "passed"})


def log_key(repo: Any, number: int, key: str) -> LogKey:
    with repo.api.state.db.session() as session:
        pipeline_id = session.scalar(select(Pipeline.id).where(Pipeline.build_number == number))
    return LogKey(pipeline_id, key, 1)
