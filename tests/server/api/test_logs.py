"""Step logs over HTTP: the raw log, its tail, other attempts, and the live Server-Sent
Events stream (resumable at byte offsets, cut at UTF-8 boundaries, secured values masked) —
through an in-process server whose embedded workers run real shell steps, and a real
`shipline serve` process for a download of a log that is still growing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipline.server.api.logs import json_string, utf8_cut
from shipline.store.models import Role

pytestmark = pytest.mark.timeout(120)  # a stream that never ends fails instead of hanging

# ---- utf8_cut ---------------------------------------------------------------------------


def test_utf8_cut_keeps_ascii_and_empty_input_whole() -> None:
    assert utf8_cut(b"") == 0
    assert utf8_cut(b"a") == 1
    assert utf8_cut(b"plain ascii line\n") == 17


@pytest.mark.parametrize("char", ["é", "€", "ü", "ह", "😀", "𝄞"])
def test_utf8_cut_never_splits_a_character(char: str) -> None:
    encoded = char.encode()
    assert len(encoded) in (2, 3, 4)
    for prefix in (b"", b"x", b"ab", b"abc", "ø".encode()):
        for cut in range(len(encoded)):
            assert utf8_cut(prefix + encoded[:cut]) == len(prefix), (prefix, cut)
        assert utf8_cut(prefix + encoded) == len(prefix) + len(encoded)
        assert utf8_cut(prefix + encoded + b"!") == len(prefix) + len(encoded) + 1


def test_utf8_cut_at_every_position_of_mixed_text() -> None:
    data = "a é € 😀 ünïcødé 𝄞\n".encode() * 3
    for end in range(len(data) + 1):
        cut = utf8_cut(data[:end])
        assert end - 3 <= cut <= end
        data[:cut].decode("utf-8")  # strict: a whole number of characters
        if end < len(data) and (data[end] & 0xC0) != 0x80:  # `end` is a character boundary
            assert cut == end


@given(st.text(), st.integers(min_value=0))
def test_utf8_cut_of_any_prefix_of_any_text_decodes(text: str, at: int) -> None:
    data = text.encode()
    end = at % (len(data) + 1)
    cut = utf8_cut(data[:end])
    assert end - 3 <= cut <= end
    assert data[:cut].decode() + data[cut:].decode("utf-8") == text  # the rest decodes too


def test_utf8_cut_does_not_hold_back_bytes_no_later_byte_can_complete() -> None:
    assert utf8_cut(b"abc\x80") == 4  # a stray continuation byte
    assert utf8_cut(b"\x80\x80\x80\x80\x80") == 5
    assert utf8_cut(b"caf\xc3\xa9\xa9") == 6  # one continuation byte too many
    assert utf8_cut(b"a\xffb") == 3
    assert utf8_cut(b"\xe2\x82\xac\xe2\x82") == 3  # a whole €, then an unfinished one


@given(st.binary(max_size=40))
def test_utf8_cut_of_arbitrary_bytes_holds_back_at_most_three(data: bytes) -> None:
    assert len(data) - 3 <= utf8_cut(data) <= len(data)


# ---- json_string (the text of a `log` event) ------------------------------------------


@given(st.binary(max_size=300))
def test_json_string_of_any_bytes_is_their_text_on_one_line(data: bytes) -> None:
    encoded = json_string(data)
    assert json.loads(encoded) == data.decode("utf-8", errors="replace")
    assert len(encoded.decode().splitlines()) == 1  # never breaks an SSE `data:` line


@given(st.text(max_size=200))
def test_json_string_of_any_text_decodes_to_it(text: str) -> None:
    assert json.loads(json_string(text.encode())) == text


@pytest.mark.parametrize(
    "text",
    ["plain line\n", 'a "quoted" back\\slash\ttab\r\n', "\x1b[31mred\x1b[0m 100%\r\n", ""],
)
def test_json_string_of_ascii_text_is_what_json_dumps_gives(text: str) -> None:
    assert json_string(text.encode()) == json.dumps(text).encode()


def test_json_string_keeps_unicode_line_separators_escaped() -> None:
    text = "é\u2028next\x85line\u2029para\x0bvt\x1cfs"
    encoded = json_string(text.encode())
    assert json.loads(encoded) == text
    assert "é".encode() in encoded  # other non-ASCII text goes as UTF-8
    for escaped in (rb"\u2028", rb"\u0085", rb"\u2029", rb"\u000b", rb"\u001c"):
        assert escaped in encoded


# ---- reading Server-Sent Events ---------------------------------------------------------


@dataclass
class Sse:
    event: str
    data: dict[str, Any]
    id: str | None


def parse_sse(lines: Iterable[str]) -> Iterator[Sse]:
    """Events of an SSE stream (comments, `retry` and unknown fields are skipped)."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield Sse(event, json.loads("\n".join(data)), event_id)
            event, data, event_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value


def follow(
    repo: Any,
    path: str,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    until: Callable[[list[Sse]], bool] = lambda events: events[-1].event == "end",
    on_event: Callable[[Sse], None] = lambda event: None,
) -> list[Sse]:
    """The events of the stream at `path`, read until `until` holds (by default: `end`)."""
    events: list[Sse] = []
    with repo.api.client.stream(
        "GET", f"/api/v1{path}", headers={**repo.api.headers(token), **(headers or {})}
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in parse_sse(response.iter_lines()):
            events.append(event)
            on_event(event)
            if until(events):
                break
    return events


def text_of(events: list[Sse]) -> str:
    """The joined text of the `log` events, checking their offsets and ids on the way."""
    text = ""
    for event in events:
        if event.event == "log":
            text += event.data["text"]
            assert event.id == str(event.data["offset"])
    return text


def checked(events: list[Sse], start: int = 0) -> str:
    """text_of, also checking each event's offset against the bytes sent before it."""
    position = start
    for event in events:
        if event.event == "log":
            position += len(event.data["text"].encode())
            assert event.data["offset"] == position
    return text_of(events)


def wait_until(condition: Callable[[], bool], seconds: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def raw(repo: Any, number: int, key: str, query: str = "", token: str | None = None) -> bytes:
    response = repo.api.client.get(
        f"/api/v1/repos/{repo.name}/pipelines/{number}/steps/{key}/log{query}",
        headers=repo.api.headers(token),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    content: bytes = response.content
    return content


def log_path(repo: Any, number: int, key: str) -> str:
    return f"/repos/{repo.name}/pipelines/{number}/steps/{key}/log"


# ---- the live stream --------------------------------------------------------------------

LINES = """
pipelines:
  default:
    - step:
        name: Lines
        script:
          - for i in 1 2 3 4 5; do echo "line $i ünïcødé"; sleep 0.2; done
"""
QUICK = LINES.replace("; sleep 0.2", "")  # the same output, at once


def test_the_stream_follows_a_running_step_and_ends_with_its_status(hosted: Any, api: Any) -> None:
    repo = hosted(LINES, on=api)
    started = repo.trigger()
    number, key = started["number"], started["steps"][0]["key"]
    seen_running: list[str] = []

    def note_status(event: Sse) -> None:
        if event.event == "log" and not seen_running:
            seen_running.append(repo.pipeline(number)["status"])

    events = follow(repo, f"{log_path(repo, number, key)}/stream", on_event=note_status)
    assert seen_running == ["running"]  # the first output arrived while the step ran
    assert len([e for e in events if e.event == "log"]) >= 2  # live, not all at the end
    assert events[-1].event == "end"
    assert events[-1].data["status"] == "passed"
    text = checked(events)
    log = raw(repo, number, key)
    assert text.encode() == log
    assert events[-1].data["offset"] == len(log)
    for i in range(1, 6):
        assert f"line {i} ünïcødé\n" in text
    assert "\ufffd" not in text
    assert repo.wait(number, {"passed", "failed"})["status"] == "passed"


NEVER_REACHED = """
pipelines:
  default:
    - step:
        name: Breaks
        script: [sleep 1, exit 3]
    - step:
        name: Never
        script: [echo never]
"""


def test_the_stream_of_a_step_that_never_runs_ends_as_soon_as_the_pipeline_does(
    hosted: Any, api: Any
) -> None:
    repo = hosted(NEVER_REACHED, on=api)
    started = repo.trigger()
    number, key = started["number"], started["steps"][1]["key"]
    began = time.monotonic()
    events = follow(repo, f"{log_path(repo, number, key)}/stream")
    waited = time.monotonic() - began
    assert events[-1].event == "end"
    assert events[-1].data["status"] == "not run"
    # Told when the pipeline ended, not at the next keep-alive (15 s) of a quiet stream.
    assert waited < 10, f"the stream ended {waited:.1f} s after it was opened"


def test_a_stream_resumed_by_last_event_id_or_offset_gives_exactly_the_rest(
    hosted: Any, api: Any
) -> None:
    repo = hosted(LINES, on=api)
    started = repo.trigger()
    number, key = started["number"], started["steps"][0]["key"]
    stream = f"{log_path(repo, number, key)}/stream"

    def has_line_2(events: list[Sse]) -> bool:
        return "line 2" in text_of(events)

    first = follow(repo, stream, until=has_line_2)  # then the client goes away
    assert first[-1].event == "log"
    resume_at = first[-1].id
    assert resume_at is not None
    rest = follow(repo, stream, headers={"Last-Event-ID": resume_at})  # the step still runs
    assert rest[-1].event == "end"
    assert rest[-1].data["status"] == "passed"
    log = raw(repo, number, key)
    assert (checked(first) + checked(rest, int(resume_at))).encode() == log

    by_query = follow(repo, f"{stream}?offset={resume_at}")
    assert checked(by_query, int(resume_at)).encode() == log[int(resume_at) :]
    assert by_query[-1].data == {"status": "passed", "offset": len(log)}
    at_end = follow(repo, stream, headers={"Last-Event-ID": str(len(log))})
    assert [e.event for e in at_end] == ["end"]
    middle = log.index(b"line 4")
    assert checked(follow(repo, f"{stream}?offset={middle}"), middle).encode() == log[middle:]


CONTROL = r"""
pipelines:
  default:
    - step:
        name: Odd
        script:
          - |
            printf '\033[31mred\033[0m 50%%\r100%%\n'
            printf 'sep \342\200\250 nel \302\205 para \342\200\251 "q" b\\s\tt\n'
            printf 'broken \303'; sleep 0.3; printf '\251 joined\n'; printf 'bad \377 byte\n'
"""


def test_the_stream_carries_control_characters_and_line_separators_intact(
    hosted: Any, api: Any
) -> None:
    repo = hosted(CONTROL, on=api)
    started = repo.trigger()
    number, key = started["number"], started["steps"][0]["key"]
    events = follow(repo, f"{log_path(repo, number, key)}/stream")
    assert events[-1].data["status"] == "passed"
    log = raw(repo, number, key)
    assert b"\x1b[31mred\x1b[0m 50%\r100%\n" in log
    assert 'sep \u2028 nel \x85 para \u2029 "q" b\\s\tt\n'.encode() in log
    assert "broken é joined\n".encode() in log  # a character split across two writes
    text = text_of(events)
    assert text == log.decode("utf-8", errors="replace")  # only the 0xff is replaced
    assert text.count("\ufffd") == 1


def test_tail_gives_the_last_lines_of_the_log(hosted: Any, api: Any) -> None:
    repo = hosted(QUICK, on=api)
    number = repo.trigger()["number"]
    done = repo.wait(number, {"passed", "failed"})
    key = repo.step(done, "Lines")["key"]
    log = raw(repo, number, key)
    assert raw(repo, number, key, "?tail=2") == b"\n".join(log.splitlines()[-2:]) + b"\n"
    assert raw(repo, number, key, "?tail=0") == b""
    assert raw(repo, number, key, "?tail=100000") == log
    bad = repo.api.client.get(
        f"/api/v1{log_path(repo, number, key)}?tail=-1", headers=repo.api.headers()
    )
    assert bad.status_code == 422


FLAKY = """
pipelines:
  default:
    - step:
        name: Flaky
        script:
          - if [ "$MODE" != fixed ]; then echo "attempt broken ($MODE)"; exit 3; fi
          - echo "attempt fixed"
"""


def test_attempt_gives_the_log_of_an_earlier_attempt_of_a_rerun_step(hosted: Any, api: Any) -> None:
    repo = hosted(FLAKY, on=api)
    api = repo.api
    assert api.client.put(
        "/api/v1/repos/shop/variables/MODE",
        json={"value": "broken", "secured": False},
        headers=api.headers(),
    ).status_code == 200  # fmt: skip
    number = repo.trigger()["number"]
    failed = repo.wait(number, {"passed", "failed"})
    assert failed["status"] == "failed"
    key = repo.step(failed, "Flaky")["key"]
    assert b"attempt broken (broken)" in raw(repo, number, key).splitlines()

    assert api.client.put(
        "/api/v1/repos/shop/variables/MODE",
        json={"value": "fixed", "secured": False},
        headers=api.headers(),
    ).status_code == 200  # fmt: skip
    rerun = api.post(f"/repos/shop/pipelines/{number}/rerun", {"all": False})
    assert rerun.status_code == 202, rerun.text
    passed = repo.wait(number, {"passed", "failed"})
    assert passed["status"] == "passed"
    assert repo.step(passed, "Flaky")["attempt"] == 2

    first, second = raw(repo, number, key, "?attempt=1"), raw(repo, number, key)
    assert b"attempt broken (broken)" in first.splitlines()  # the step's output lines
    assert b"attempt fixed" not in first.splitlines()
    assert b"attempt fixed" in second.splitlines()
    assert b"attempt broken (fixed)" not in second
    assert b"attempt broken (broken)" not in second
    assert raw(repo, number, key, "?attempt=2") == second
    assert raw(repo, number, key, "?attempt=1&tail=1") == first.splitlines(keepends=True)[-1]
    streamed = follow(repo, f"{log_path(repo, number, key)}/stream?attempt=1")
    assert checked(streamed).encode() == first
    assert streamed[-1].event == "end"
    missing = api.client.get(
        f"/api/v1{log_path(repo, number, key)}?attempt=3", headers=api.headers()
    )
    assert missing.status_code == 404


def test_a_viewer_reads_logs_and_no_token_gets_401(hosted: Any, api: Any) -> None:
    repo = hosted(QUICK, on=api)
    number = repo.trigger()["number"]
    done = repo.wait(number, {"passed", "failed"})
    key = repo.step(done, "Lines")["key"]
    viewer = repo.api.token_for(Role.VIEWER, "watcher")
    log = raw(repo, number, key, token=viewer)
    assert b"line 5" in log
    assert raw(repo, number, key, "?tail=1", token=viewer) == log.splitlines(keepends=True)[-1]
    stream = f"{log_path(repo, number, key)}/stream"
    assert checked(follow(repo, stream, token=viewer)).encode() == log

    client = repo.api.client
    for path in (log_path(repo, number, key), stream, f"{log_path(repo, number, key)}?tail=1"):
        assert client.get(f"/api/v1{path}").status_code == 401
        bad = client.get(f"/api/v1{path}", headers={"Authorization": "Bearer shp_wrong"})
        assert bad.status_code == 401


def test_unknown_steps_and_pipelines_are_404(hosted: Any, api: Any) -> None:
    repo = hosted(QUICK, on=api)
    number = repo.trigger()["number"]
    repo.wait(number, {"passed", "failed"})
    client, headers = repo.api.client, repo.api.headers()
    for path in (log_path(repo, number, "nope"), log_path(repo, 99, "nope")):
        assert client.get(f"/api/v1{path}", headers=headers).status_code == 404
        assert client.get(f"/api/v1{path}/stream", headers=headers).status_code == 404


SECRET = "s3cr3t-" + hashlib.sha256(b"shipline deploy key").hexdigest()  # 71 characters
MASKED = """
pipelines:
  default:
    - step:
        name: Deploy
        script:
          - echo "the key is $DEPLOY_KEY."
          - printf 'split=%s' "${DEPLOY_KEY:0:30}"; sleep 0.5; printf '%s!\\n' "${DEPLOY_KEY:30}"
          - for i in 1 2 3; do echo "again $DEPLOY_KEY $i"; sleep 0.2; done
"""


def test_a_secured_variable_is_masked_in_the_raw_log_and_the_stream(hosted: Any, api: Any) -> None:
    repo = hosted(MASKED, on=api)
    response = repo.api.client.put(
        "/api/v1/repos/shop/variables/DEPLOY_KEY",
        json={"value": SECRET, "secured": True},
        headers=repo.api.headers(),
    )
    assert response.status_code == 200, response.text
    started = repo.trigger()
    number, key = started["number"], started["steps"][0]["key"]
    events = follow(repo, f"{log_path(repo, number, key)}/stream")
    assert events[-1].data["status"] == "passed"
    streamed = checked(events)
    log = raw(repo, number, key).decode()
    assert streamed == log
    for text in (streamed, log):
        assert "the key is $DEPLOY_KEY." in text
        assert "split=$DEPLOY_KEY!" in text  # printed in two halves, half a second apart
        assert "again $DEPLOY_KEY 3" in text
        assert SECRET not in text
        assert SECRET[:30] not in text
        assert SECRET[30:] not in text
        fragments = {SECRET[i : i + 12] for i in range(len(SECRET) - 11)}
        assert not [f for f in fragments if f in text]


def test_a_step_printing_5_mb_has_every_byte_in_its_raw_log(hosted: Any, api: Any) -> None:
    count = 750_000
    expected = "".join(f"{n}\n" for n in range(1, count + 1)).encode()
    assert len(expected) > 5_000_000
    repo = hosted(
        "pipelines:\n  default:\n    - step:\n        name: Big\n"
        f"        script:\n          - seq 1 {count}\n",
        on=api,
    )
    number = repo.trigger()["number"]
    done = repo.wait(number, {"passed", "failed"})
    assert done["status"] == "passed"
    key = repo.step(done, "Big")["key"]
    log = raw(repo, number, key)
    command = f"seq 1 {count}\n".encode()
    start = log.index(command) + len(command)  # the log shows the command, then its output
    output = log[start : start + len(expected)]
    assert len(output) == len(expected)
    assert hashlib.sha256(output).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert log[start + len(expected) :].strip().isascii()  # at most Shipline's own lines
    assert b"\n1\n2\n3\n" in log[start - 1 : start + 10]


# ---- a real `shipline serve` process ----------------------------------------------------

GROWING = """
pipelines:
  default:
    - step:
        name: Grow
        script:
          - for i in $(seq 1 20); do head -c 1000000 /dev/zero | tr '\\0' a; echo; sleep 0.1; done
"""


def test_the_raw_log_of_a_running_step_downloads_whole_while_it_grows(
    served: Any, tmp_path: Path
) -> None:
    """Each download is a consistent snapshot: exactly Content-Length bytes, a prefix of the
    final log (the step appends megabytes while the download is under way)."""
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    api = f"{served.url}/api/v1"
    assert httpx.post(f"{api}/repos", json={"name": "grow"}, headers=headers).status_code == 201
    work = tmp_path / "work"
    work.mkdir()
    (work / "bitbucket-pipelines.yml").write_text(GROWING)
    identity = ["-c", "user.name=Dev", "-c", "user.email=dev@shipline.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "grow"]):
        subprocess.run(["git", *identity, *args], cwd=work, check=True, capture_output=True)
    push = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/grow.git"
    subprocess.run(
        ["git", "push", "-q", push, "HEAD:main"], cwd=work, check=True, capture_output=True
    )

    def pipeline() -> dict[str, Any]:
        found = httpx.get(f"{api}/repos/grow/pipelines/1", headers=headers)
        return found.json() if found.status_code == 200 else {"status": "none", "steps": []}

    wait_until(lambda: pipeline()["status"] == "running", what="pipeline #1 running")
    key = pipeline()["steps"][0]["key"]
    url = f"{api}/repos/grow/pipelines/1/steps/{key}/log"
    snapshots: list[bytes] = []
    while pipeline()["status"] == "running" and len(snapshots) < 20:
        response = httpx.get(url, headers=headers, timeout=30)  # raised when cut off
        if response.status_code == 404:  # no output yet
            continue
        assert response.status_code == 200, response.text
        assert len(response.content) == int(response.headers["content-length"])
        snapshots.append(response.content)
    wait_until(lambda: pipeline()["status"] in {"passed", "failed"}, what="the end")
    final = httpx.get(url, headers=headers, timeout=30).content
    assert pipeline()["status"] == "passed", served.output()
    assert final.count(b"a" * 1_000_000 + b"\n") == 20
    assert snapshots
    assert all(final.startswith(snapshot) for snapshot in snapshots)
    assert "Traceback" not in served.output()
