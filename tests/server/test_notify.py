"""Notifications through Apprise, delivered to real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from shipline.errors import ShiplineError
from shipline.server.notify import (
    DEFAULT_KINDS,
    READ_TIMEOUT,
    Delivery,
    Notification,
    NotificationError,
    NotificationKind,
    NotificationTarget,
    deployment_notification,
    parse_kinds,
    pipeline_notification,
    send,
    validate_url,
)

LINK = "http://127.0.0.1:8000/repos/webshop/pipelines/42"
TOKEN = "yokkutpah3r3urc5h6i969yima"  # the shape of a Mattermost webhook token


@dataclass
class Request:
    path: str
    content_type: str
    body: bytes

    def json(self) -> dict[str, object]:
        loaded = json.loads(self.body)
        assert isinstance(loaded, dict)
        return loaded


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers `status`."""

    status: int = 200
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                kind = self.headers.get("Content-Type", "")
                receiver.requests.append(Request(self.path, kind, self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(status: int = 200) -> Receiver:
        started.append(Receiver(status).start())
        return started[-1]

    yield start
    for one in started:
        one.stop()


class Logged(logging.Handler):
    """Every record that reaches the root logger, as an application's handler sees them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(record.getMessage() for record in self.records)


@pytest.fixture
def logged() -> Iterator[Logged]:
    # Not caplog: pytest also hooks its handler onto loggers that do not propagate.
    root, handler = logging.getLogger(), Logged()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def failed_pipeline(**changes: object) -> Notification:
    fields: dict[str, object] = {
        "repo": "webshop",
        "number": 42,
        "status": "failed",
        "previous_status": "passed",
        "branch": "main",
        "commit": "1a2b3c4d5e6f7081",
        "message": "Fix rounding in checkout\n\nThe long explanation.",
        "triggered_by": "alice",
        "reason": "branch 'main' matches 'main' in branches",
        "link": LINK,
    }
    fields.update(changes)
    notification = pipeline_notification(**fields)  # type: ignore[arg-type]
    assert notification is not None
    return notification


# --- what is sent -----------------------------------------------------------------------


def test_json_target_gets_apprises_documented_json_payload(receiver):
    got = receiver()
    notification = failed_pipeline()

    deliveries = send(notification, [NotificationTarget(f"json://127.0.0.1:{got.port}/path")])

    assert deliveries == [Delivery("json", True)]
    (request,) = got.requests
    assert request.path == "/path"
    assert request.content_type == "application/json"
    payload = request.json()
    # Apprise's JSON service doc: {"version": "1.0", "title", "message", "type"}
    assert payload["version"] == "1.0"
    assert payload["title"] == "webshop#42 failed on main"
    assert payload["type"] == "failure"
    message = payload["message"]
    assert isinstance(message, str)
    assert notification.body in message
    assert "Commit 1a2b3c4: Fix rounding in checkout" in message
    assert "Triggered by alice" in message
    assert f"Pipeline: {LINK}" in message  # JSON is plain text: the bare link


def test_mattermost_target_posts_to_its_incoming_webhook(receiver):
    got = receiver()
    notification = failed_pipeline()

    deliveries = send(notification, [NotificationTarget(f"mmost://127.0.0.1:{got.port}/{TOKEN}")])

    assert deliveries == [Delivery("mmost", True)]
    (request,) = got.requests
    # mmost:// is Mattermost over plain http; Apprise adds /hooks/ before the token
    assert request.path == f"/hooks/{TOKEN}"
    assert request.content_type == "application/json"
    payload = request.json()
    # Only parameters Mattermost's incoming-webhook doc lists; `channel` is left out so the
    # webhook's own channel is used.
    assert set(payload) <= {"text", "channel", "username", "icon_url", "icon_emoji",
                            "attachments", "type", "props", "priority"}  # fmt: skip
    assert "channel" not in payload
    assert payload["username"] == "Shipline"
    text = payload["text"]
    assert isinstance(text, str)
    assert text.startswith("webshop#42 failed on main")  # Mattermost has no title: it leads
    assert "Pipeline #42 of webshop failed on main." in text
    assert "Commit 1a2b3c4: Fix rounding in checkout" in text
    # Mattermost renders `text` as Markdown: the link is a Markdown link
    assert f"[Open the pipeline]({LINK})" in text


def test_mattermost_channel_and_markdown_escaping(receiver):
    got = receiver()
    notification = failed_pipeline(
        message="Drop <script>alert(1)</script> and see [docs](http://evil.example)"
    )

    send(notification, [NotificationTarget(f"mmost://127.0.0.1:{got.port}/{TOKEN}?channel=ci")])

    payload = got.requests[0].json()
    assert payload["channel"] == "ci"
    text = payload["text"]
    assert isinstance(text, str)
    # A commit message is text: it cannot add HTML or links of its own
    assert r"\<script\>alert(1)\</script\>" in text
    assert r"\[docs\](http://evil.example)" in text


def test_form_target_gets_the_documented_form_fields(receiver):
    got = receiver()
    notification = deployment_notification(
        repo="webshop",
        environment="production",
        deployment_id=7,
        status="passed",
        commit="1a2b3c4d5e",
        message="Release 1.2",
        triggered_by="bob",
        link="http://127.0.0.1:8000/repos/webshop/deployments/7",
        stories=["SHOP-12", "SHOP-15"],
    )
    assert notification is not None

    deliveries = send(
        notification, [NotificationTarget(f"form://127.0.0.1:{got.port}/form", name="hook")]
    )

    assert deliveries == [Delivery("hook", True)]
    (request,) = got.requests
    assert request.path == "/form"
    assert request.content_type == "application/x-www-form-urlencoded"
    form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
    assert form["version"] == "1.0"
    assert form["type"] == "success"
    assert form["title"] == "webshop: 1a2b3c4 deployed to production"
    assert "Deployment #7 of webshop to production succeeded." in form["message"]
    assert "Stories: SHOP-12, SHOP-15" in form["message"]
    assert "Deployment: http://127.0.0.1:8000/repos/webshop/deployments/7" in form["message"]


def test_notify_type_follows_the_kind(receiver):
    got = receiver()
    target = NotificationTarget(f"json://127.0.0.1:{got.port}/", kinds=frozenset(NotificationKind))
    started = deployment_notification(
        repo="webshop", environment="staging", deployment_id=3, status="running",
        commit="abcdef123", message="x", triggered_by="", link=LINK,
    )  # fmt: skip
    fixed = failed_pipeline(status="passed", previous_status="failed")
    assert started is not None

    send(started, [target])
    send(fixed, [target])

    assert [request.json()["type"] for request in got.requests] == ["info", "success"]


# --- failures ---------------------------------------------------------------------------


def test_failing_targets_are_reported_and_the_others_still_get_theirs(
    receiver, closed_port, logged
):
    broken = receiver(status=500)
    fine = receiver()
    targets = [
        NotificationTarget(f"mmost://127.0.0.1:{closed_port}/{TOKEN}", name="refused"),
        NotificationTarget(f"mmost://127.0.0.1:{broken.port}/{TOKEN}"),
        NotificationTarget(f"form://hookuser:s3cretPassw0rd@127.0.0.1:{fine.port}/"),
    ]

    deliveries = send(failed_pipeline(), targets)

    assert [(d.target, d.ok) for d in deliveries] == [
        ("refused", False),
        ("mmost", False),
        ("form", True),
    ]
    assert "connection error" in deliveries[0].error.lower()
    assert "500" in deliveries[1].error
    assert len(broken.requests) == 1
    assert len(fine.requests) == 1
    text = logged.text()
    for secret in (TOKEN, "s3cretPassw0rd"):
        assert all(secret not in d.error for d in deliveries)
        assert secret not in text
    assert "not sent to refused" in text
    # Apprise's own lines stay out of Shipline's logs; the HTTP client's are redacted
    assert not [record for record in logged.records if record.name.startswith("apprise")]
    assert "POST /hooks/*** HTTP/1.1" in text


def test_an_unusable_url_becomes_a_failed_delivery():
    target = NotificationTarget(f"mmost://127.0.0.1/{TOKEN}/extra?bad=yes&mode=nonsense")

    (delivery,) = send(failed_pipeline(), [target])

    assert not delivery.ok
    assert delivery.target == "mmost"
    assert "is not an Apprise URL Shipline can use" in delivery.error
    assert TOKEN not in delivery.error


def test_a_silent_receiver_does_not_hold_send(receiver, silent_port):
    fine = receiver()
    # The URL asks for a 10-minute read timeout; Shipline caps it.
    targets = [
        NotificationTarget(f"json://127.0.0.1:{silent_port}/?rto=600", name="silent"),
        NotificationTarget(f"json://127.0.0.1:{fine.port}/", name="fine"),
    ]

    started = time.monotonic()
    deliveries = send(failed_pipeline(), targets)
    elapsed = time.monotonic() - started

    assert elapsed < READ_TIMEOUT + 3
    assert [(d.target, d.ok) for d in deliveries] == [("silent", False), ("fine", True)]
    assert deliveries[0].error
    assert len(fine.requests) == 1


# --- filters ----------------------------------------------------------------------------


def test_a_target_gets_only_the_kinds_it_asked_for(receiver):
    only_deploy_failures = receiver()
    defaults = receiver()
    targets = [
        NotificationTarget(
            f"json://127.0.0.1:{only_deploy_failures.port}/",
            kinds=frozenset({NotificationKind.DEPLOYMENT_FAILED}),
            name="ops",
        ),
        NotificationTarget(f"json://127.0.0.1:{defaults.port}/", name="team"),
    ]

    deliveries = send(failed_pipeline(), targets)

    assert deliveries == [Delivery("team", True)]
    assert only_deploy_failures.requests == []
    assert len(defaults.requests) == 1


def test_nobody_subscribed_means_nothing_is_sent(receiver):
    got = receiver()
    green = failed_pipeline(status="passed", previous_status="passed")

    assert send(green, [NotificationTarget(f"json://127.0.0.1:{got.port}/")]) == []
    assert got.requests == []


def test_default_kinds_are_the_actionable_ones():
    assert {
        NotificationKind.PIPELINE_FAILED,
        NotificationKind.PIPELINE_FIXED,
        NotificationKind.DEPLOYMENT_SUCCEEDED,
        NotificationKind.DEPLOYMENT_FAILED,
    } == DEFAULT_KINDS
    assert NotificationTarget("json://localhost").kinds == DEFAULT_KINDS


def test_parse_kinds():
    assert parse_kinds(["pipeline.failed", " deployment.started "]) == {
        NotificationKind.PIPELINE_FAILED,
        NotificationKind.DEPLOYMENT_STARTED,
    }
    assert parse_kinds([]) == DEFAULT_KINDS
    with pytest.raises(NotificationError, match=r"'pipeline\.broke' is not a notification kind"):
        parse_kinds(["pipeline.broke"])


def test_a_targets_repr_hides_its_url():
    target = NotificationTarget(f"mmost://chat.example.com/{TOKEN}", name="team chat")
    assert TOKEN not in repr(target)
    assert "team chat" in repr(target)


# --- which events are told --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "previous", "kind", "title"),
    [
        ("failed", "passed", NotificationKind.PIPELINE_FAILED, "webshop#42 failed on main"),
        ("failed", "failed", NotificationKind.PIPELINE_FAILED, "webshop#42 failed on main"),
        ("failed", None, NotificationKind.PIPELINE_FAILED, "webshop#42 failed on main"),
        ("passed", "failed", NotificationKind.PIPELINE_FIXED, "webshop#42 passed on main (fixed)"),
        ("passed", "passed", NotificationKind.PIPELINE_SUCCEEDED, "webshop#42 passed on main"),
        ("passed", None, NotificationKind.PIPELINE_SUCCEEDED, "webshop#42 passed on main"),
        ("passed", "cancelled", NotificationKind.PIPELINE_SUCCEEDED, "webshop#42 passed on main"),
    ],
)
def test_pipeline_kinds(status, previous, kind, title):
    notification = failed_pipeline(status=status, previous_status=previous)
    assert notification.kind == kind
    assert notification.title == title
    assert notification.repo == "webshop"
    assert notification.link == LINK
    assert notification.body.splitlines()[1:] == [
        "Commit 1a2b3c4: Fix rounding in checkout",
        "Triggered by alice",
        "Reason: branch 'main' matches 'main' in branches",
    ]


@pytest.mark.parametrize("status", ["paused", "cancelled", "running", "pending"])
def test_pipelines_that_did_not_end_in_a_verdict_are_not_told(status):
    notification = pipeline_notification(
        repo="webshop", number=1, status=status, previous_status="failed", branch="main",
        commit="abc", message="m", triggered_by="a", reason="r", link=LINK,
    )  # fmt: skip
    assert notification is None


@pytest.mark.parametrize(
    ("status", "kind", "title", "first_line"),
    [
        ("running", NotificationKind.DEPLOYMENT_STARTED, "webshop: deploying 1a2b3c4 to production",
         "Deployment #7 of webshop to production started."),
        ("passed", NotificationKind.DEPLOYMENT_SUCCEEDED, "webshop: 1a2b3c4 deployed to production",
         "Deployment #7 of webshop to production succeeded."),
        ("failed", NotificationKind.DEPLOYMENT_FAILED,
         "webshop: deployment of 1a2b3c4 to production failed",
         "Deployment #7 of webshop to production failed."),
        ("queued", None, None, None),
        ("waiting", None, None, None),
        ("cancelled", None, None, None),
        ("superseded", None, None, None),
    ],
)  # fmt: skip
def test_deployment_kinds(status, kind, title, first_line):
    notification = deployment_notification(
        repo="webshop", environment="production", deployment_id=7, status=status,
        commit="1a2b3c4d5e", message="Release 1.2\n\nnotes", triggered_by="bob", link=LINK,
    )  # fmt: skip
    if kind is None:
        assert notification is None
        return
    assert notification is not None
    assert (notification.kind, notification.title) == (kind, title)
    assert notification.body.splitlines() == [
        first_line,
        "Commit 1a2b3c4: Release 1.2",
        "Triggered by bob",
    ]


def test_a_long_commit_subject_is_shortened():
    notification = failed_pipeline(message="x" * 300)
    line = notification.body.splitlines()[1]
    assert line.startswith("Commit 1a2b3c4: xxx")
    assert line.endswith("…")
    assert len(line) < 130


# --- URL validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        # Examples from the Apprise service pages (appriseit.com/services/...)
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F/#general",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F",
        "slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#deploys",
        "mmost://localhost:8065/yokkutpah3r3urc5h6i969yima",
        "mmosts://mattermost.server.local/3ccdd113474722377935511fc85d3dd4",
        "mmost://mattermost.server.local/3ccdd113474722377935511fc85d3dd4?channels=support,general",
        # (the msteams:// page's examples no longer validate: Apprise retired msteams://)
        "workflows://prod-00.westus.logic.azure.com:443/643e69f83c8944438d68119179a10a64"
        "/KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZxFE5A/",
        "https://prod-00.westus.logic.azure.com:443/workflows/643e69f83c8944438d68119179a10a64"
        "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun"
        "&sv=1.0&sig=KODuebWbDGYFr0z0eu-6Rj8aUKz7108W3wrNJZxFE5A",
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "https://discordapp.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "mailto://userid:pass@domain.com",
        "mailtos://domain.com?user=userid&pass=password",
        "mailto://localhost?from=john@example.ca",
        "json://json.server.local",
        "jsons://json.server.local:8443/notify",
        "form://my.server.local",
    ],
)
def test_validate_url_accepts_apprise_examples(url):
    """Slack, Teams and Discord cannot be reached offline and are not faked here: that their
    URLs validate is what is checked; json://, form:// and mmost:// are delivered above."""
    validate_url(url)


SECRET = "Zq8SECRETtokenXy93"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "An empty URL is not an Apprise URL Shipline can use: it has no scheme"),
        (SECRET, "This URL is not an Apprise URL Shipline can use: it has no scheme"),
        (f"https://example.com/{SECRET}", "A https:// URL is not an Apprise URL"),
        (f"foo://user:{SECRET}@host/{SECRET}", "Apprise has no foo:// service"),
        (f"slack://{SECRET}", "syntax is at https://appriseit.com/services/slack/"),
        (f"slack://T1JJ3T3L2/{SECRET}", "A slack:// URL is not an Apprise URL"),
        (f"discord://{SECRET}", "A discord:// URL is not an Apprise URL"),
        ("mmost://mattermost.example.com", "A mmost:// URL is not an Apprise URL"),
        (f"json://user:{SECRET}@", "A json:// URL is not an Apprise URL"),
        (f"mailto://user:{SECRET}@", "A mailto:// URL is not an Apprise URL"),
        (f"msteams://Apprise/{SECRET}@DEFK543/A1BRTD4JD/{SECRET}/", "use its workflows:// URL"),
    ],
)
def test_validate_url_rejects_garbage_without_echoing_it(url, says, logged):
    with pytest.raises(NotificationError) as raised:
        validate_url(url)
    assert says in str(raised.value)
    assert SECRET not in str(raised.value)
    assert SECRET not in logged.text()  # Apprise's own log lines stay out of Shipline's logs
    assert isinstance(raised.value, ShiplineError)
