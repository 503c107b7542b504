"""Tell teams what their pipelines and deployments did, through Apprise.

A repository names notification targets: an Apprise URL (``slack://``, ``mmost://``,
``workflows://`` for Microsoft Teams, ``discord://``, ``mailto://``, ``json://``...) and the
kinds of event it wants. `pipeline_notification` and `deployment_notification` turn what
happened into a `Notification` (or ``None`` when nobody is told about it); `send` delivers it
to every target that asked for its kind and reports one `Delivery` per target.

An Apprise URL holds the service's tokens, so it is treated as a secret: it is never logged,
never put in an error and not in a target's ``repr``. Errors name the target (or only the
URL's scheme). Apprise's own log lines can carry parts of a URL (it masks some, not all), so
they are kept out of Shipline's logs: the ``apprise`` logger does not propagate, and what it
said about a failed delivery reaches the caller in `Delivery.error`, with every part of the
URL that could be a secret replaced by ``***``. The HTTP client's lines (urllib3 logs request
paths at DEBUG, and Mattermost's token is part of its path) are redacted the same way while
they are about a notification.

Sending never raises for a failing target and is bounded in time: socket timeouts are capped
(`CONNECT_TIMEOUT`, `READ_TIMEOUT`: Apprise's ``cto``/``rto`` URL arguments, which a URL may
lower but not raise), each target has a `SEND_BUDGET` that also covers retries a URL asks
for (``AppriseAsset(service_timeout=...)``), and targets are sent to in parallel.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise
from apprise.plugins.mattermost import NotifyMattermost

from shipline.errors import ShiplineError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds; caps Apprise's `cto` (its default is 4, email's 15)
READ_TIMEOUT = 5.0  # seconds; caps Apprise's `rto` (default 4)
SEND_BUDGET = 12.0  # seconds one target may take in all, retries included
MAX_PARALLEL = 8  # targets sent to at once


class NotificationKind(enum.StrEnum):
    PIPELINE_FAILED = "pipeline.failed"
    PIPELINE_FIXED = "pipeline.fixed"  # passed, and the one before it on the branch failed
    PIPELINE_SUCCEEDED = "pipeline.succeeded"
    DEPLOYMENT_STARTED = "deployment.started"
    DEPLOYMENT_SUCCEEDED = "deployment.succeeded"
    DEPLOYMENT_FAILED = "deployment.failed"


# What a target gets when it names no filter: what someone should act on (a failure), the
# all-clear after it (fixed) and what changed in an environment. Every green pipeline and
# every deployment start would make a team channel noisy, so those are opt-in.
DEFAULT_KINDS: frozenset[NotificationKind] = frozenset(
    {
        NotificationKind.PIPELINE_FAILED,
        NotificationKind.PIPELINE_FIXED,
        NotificationKind.DEPLOYMENT_SUCCEEDED,
        NotificationKind.DEPLOYMENT_FAILED,
    }
)

_NOTIFY_TYPES = {
    NotificationKind.PIPELINE_FAILED: apprise.NotifyType.FAILURE,
    NotificationKind.PIPELINE_FIXED: apprise.NotifyType.SUCCESS,
    NotificationKind.PIPELINE_SUCCEEDED: apprise.NotifyType.SUCCESS,
    NotificationKind.DEPLOYMENT_STARTED: apprise.NotifyType.INFO,
    NotificationKind.DEPLOYMENT_SUCCEEDED: apprise.NotifyType.SUCCESS,
    NotificationKind.DEPLOYMENT_FAILED: apprise.NotifyType.FAILURE,
}

# Schemes Apprise dropped, with what to use instead.
_RETIRED = {
    "msteams": (
        "Apprise retired msteams:// when Microsoft retired Office 365 connectors in Teams; "
        "create a Teams workflow and use its workflows:// URL instead "
        "(https://appriseit.com/services/workflows/)"
    ),
}

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_SUBJECT_MAX = 100  # characters of a commit's first line shown


class NotificationError(ShiplineError):
    """A notification target cannot be used (its URL is not one Apprise can send to...)."""


@dataclass(frozen=True)
class NotificationTarget:
    url: str = field(repr=False)  # an Apprise URL; holds tokens: never logged or put in errors
    kinds: frozenset[NotificationKind] = DEFAULT_KINDS
    name: str = ""  # how people refer to it ("team slack"); shown in errors instead of the URL


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    repo: str
    title: str  # e.g. "webshop#42 failed on main"
    body: str  # plain text: what, which commit, who triggered, why; `send` adds the link
    link: str  # URL of the pipeline or deployment page


@dataclass(frozen=True)
class Delivery:
    target: str  # the target's name, or the URL's scheme when unnamed
    ok: bool
    error: str = ""  # never contains the URL's secret parts


def parse_kinds(names: Iterable[str]) -> frozenset[NotificationKind]:
    """The kinds a target's filter names ("pipeline.failed", ...); an empty filter is
    `DEFAULT_KINDS`."""
    kinds: set[NotificationKind] = set()
    for name in names:
        try:
            kinds.add(NotificationKind(name.strip()))
        except ValueError:
            known = ", ".join(kind.value for kind in NotificationKind)
            raise NotificationError(
                f"'{name}' is not a notification kind; use one of: {known}"
            ) from None
    return frozenset(kinds) if kinds else DEFAULT_KINDS


def validate_url(url: str) -> None:
    """Raise `NotificationError` unless Apprise can send to `url`; the message shows only the
    URL's scheme, never its tokens."""
    _load(url)


def pipeline_notification(
    *,
    repo: str,
    number: int,
    status: str,
    previous_status: str | None,
    branch: str,
    commit: str,
    message: str,
    triggered_by: str,
    reason: str,
    link: str,
) -> Notification | None:
    """What to tell about pipeline `number` that ended with `status`; ``None`` for endings
    nobody is told about (paused, cancelled).

    `previous_status` is how the latest earlier pipeline on the same branch ended (``None``
    when there is none). Only a pass right after "failed" is "fixed"; a caller that wants a
    cancelled run in between to be looked through passes the status of the one before it.
    """
    on = f" on {branch}" if branch else ""
    if status == "failed":
        kind, title = NotificationKind.PIPELINE_FAILED, f"{repo}#{number} failed{on}"
        what = f"Pipeline #{number} of {repo} failed{on}."
    elif status == "passed" and previous_status == "failed":
        kind, title = NotificationKind.PIPELINE_FIXED, f"{repo}#{number} passed{on} (fixed)"
        what = f"Pipeline #{number} of {repo} passed{on}; the one before it had failed."
    elif status == "passed":
        kind, title = NotificationKind.PIPELINE_SUCCEEDED, f"{repo}#{number} passed{on}"
        what = f"Pipeline #{number} of {repo} passed{on}."
    else:
        return None
    lines = [what, _commit_line(commit, message)]
    if triggered_by:
        lines.append(f"Triggered by {triggered_by}")
    if reason:
        lines.append(f"Reason: {reason}")
    return Notification(kind, repo, title, "\n".join(lines), link)


def deployment_notification(
    *,
    repo: str,
    environment: str,
    deployment_id: int,
    status: str,
    commit: str,
    message: str,
    triggered_by: str,
    link: str,
    stories: Sequence[str] = (),
) -> Notification | None:
    """What to tell about a deployment entering `status`: running (started), passed or
    failed; ``None`` for the others (waiting, queued, cancelled, superseded...)."""
    sha = _short(commit)
    if status == "running":
        kind, verb = NotificationKind.DEPLOYMENT_STARTED, "started"
        title = f"{repo}: deploying {sha} to {environment}"
    elif status == "passed":
        kind, verb = NotificationKind.DEPLOYMENT_SUCCEEDED, "succeeded"
        title = f"{repo}: {sha} deployed to {environment}"
    elif status == "failed":
        kind, verb = NotificationKind.DEPLOYMENT_FAILED, "failed"
        title = f"{repo}: deployment of {sha} to {environment} failed"
    else:
        return None
    lines = [
        f"Deployment #{deployment_id} of {repo} to {environment} {verb}.",
        _commit_line(commit, message),
    ]
    if triggered_by:
        lines.append(f"Triggered by {triggered_by}")
    if stories:
        lines.append("Stories: " + ", ".join(stories))
    return Notification(kind, repo, title, "\n".join(lines), link)


def send(notification: Notification, targets: Iterable[NotificationTarget]) -> list[Delivery]:
    """Deliver `notification` to the targets whose kinds include its kind, one Apprise object
    per target so each outcome is the target's own; one `Delivery` per such target, in order.

    Never raises for a target that fails. Targets are sent to `MAX_PARALLEL` at a time and
    each takes at most about `SEND_BUDGET` seconds, so a few silent services cost seconds,
    not minutes; still, call it off the request path.
    """
    chosen = [target for target in targets if notification.kind in target.kinds]
    if not chosen:
        return []
    _keep_logs_private()
    deliver = partial(_deliver, notification)
    if len(chosen) == 1:
        deliveries = [deliver(chosen[0])]
    else:
        workers = min(len(chosen), MAX_PARALLEL)
        with ThreadPoolExecutor(workers, thread_name_prefix="shipline-notify") as pool:
            deliveries = list(pool.map(deliver, chosen))
    for delivery in deliveries:
        if delivery.ok:
            log.info("%s: %s sent to %s", notification.repo, notification.kind, delivery.target)
        else:
            log.warning(
                "%s: %s not sent to %s: %s",
                notification.repo,
                notification.kind,
                delivery.target,
                delivery.error,
            )
    return deliveries


def _deliver(notification: Notification, target: NotificationTarget) -> Delivery:
    # Apprise runs services in its own threads, with a copy of this context.
    token = _sending.set(target.url)
    try:
        return _deliver_to(notification, target)
    finally:
        _sending.reset(token)


def _deliver_to(notification: Notification, target: NotificationTarget) -> Delivery:
    label = target.name or _scheme(target.url) or "notification target"
    try:
        plugin = _load(target.url)
        # The URL may lower Apprise's socket timeouts (cto=, rto=) but not raise them.
        plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, CONNECT_TIMEOUT)
        plugin.socket_read_timeout = min(plugin.socket_read_timeout, READ_TIMEOUT)
        markdown = _renders_markdown(plugin)
        sender = apprise.Apprise(asset=plugin.asset)
        sender.add(plugin)
        result = sender.notify(
            title=notification.title,
            body=_markdown_body(notification) if markdown else _text_body(notification),
            notify_type=_NOTIFY_TYPES[notification.kind],
            body_format=apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT,
        )
    except NotificationError as error:
        return Delivery(label, False, str(error))
    except Exception as error:  # a plugin bug must not stop the other targets
        return Delivery(label, False, _redact(f"{type(error).__name__}: {error}", target.url))
    if result:
        return Delivery(label, True)
    return Delivery(label, False, _redact(_failure(result), target.url))


def _load(url: str) -> apprise.NotifyBase:
    _keep_logs_private()
    scheme = _scheme(url)
    if scheme is None:
        what = "An empty URL" if not url.strip() else "This URL"
        raise NotificationError(
            f"{what} is not an Apprise URL Shipline can use: it has no scheme; Apprise URLs "
            "look like slack://..., mmost://..., mailto://... or json://..."
        )

    def unusable(why: str) -> NotificationError:
        return NotificationError(f"A {scheme}:// URL is not an Apprise URL Shipline can use: {why}")

    if scheme in _RETIRED:
        raise unusable(_RETIRED[scheme])
    plugins = apprise.NotificationManager()  # type: ignore[no-untyped-call]
    known = scheme in plugins
    if known and not plugins[scheme].enabled:
        raise unusable(f"{scheme}:// is disabled here (a package it needs is not installed)")
    token = _sending.set(url)
    try:
        plugin = apprise.Apprise.instantiate(url.strip(), asset=_asset())
    finally:
        _sending.reset(token)
    if plugin is not None:
        return plugin
    if known:
        raise unusable(
            "Apprise could not read it (a token missing or malformed?); its syntax is at "
            f"{plugins[scheme].setup_url}"
        )
    raise unusable(
        f"Apprise has no {scheme}:// service, nor a service whose own webhook address this is "
        "(services and their URLs: https://appriseit.com/services/)"
    )


def _asset() -> apprise.AppriseAsset:
    return apprise.AppriseAsset(
        service_timeout=SEND_BUDGET,
        secure_logging=True,
        # Shown as the sender where a service shows one (Mattermost's username, User-Agent).
        app_id="Shipline",
        app_desc="Shipline notification",
    )


# The URL being sent to (or read) in this context, for `_RedactSending`.
_sending: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "shipline_notify_url", default=None
)
_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")
_private_lock = threading.Lock()
_private = False


class _RedactSending(logging.Filter):
    """Rewrites a record logged while sending to a URL without that URL's secret parts."""

    def filter(self, record: logging.LogRecord) -> bool:
        url = _sending.get()
        if url is not None:
            record.msg, record.args = _redact(record.getMessage(), url), None
        return True


def _keep_logs_private() -> None:
    """Keep URL secrets out of log records Apprise and its HTTP client make for Shipline.

    Apprise's records do not propagate: Apprise reports a delivery's problems through
    handlers on its own logger, which keep working, and `Delivery.error` carries them.
    """
    global _private
    with _private_lock:
        if _private:
            return
        apprise_log = logging.getLogger(apprise.LOGGER_NAME)
        apprise_log.propagate = False
        if apprise_log.level == logging.NOTSET:
            # Apprise captures what a failing service said only at levels its logger allows.
            apprise_log.setLevel(logging.WARNING)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(_RedactSending())
        _private = True


def _renders_markdown(plugin: apprise.NotifyBase) -> bool:
    # Slack, Teams workflows, Discord with ?format=markdown send Markdown (Apprise turns it
    # into their dialect), email sends HTML (Apprise renders the Markdown). Mattermost's
    # incoming webhook renders `text` as Markdown although Apprise declares it text-only.
    rendered = plugin.resolve_format(None)
    return rendered in (apprise.NotifyFormat.MARKDOWN, apprise.NotifyFormat.HTML) or isinstance(
        plugin, NotifyMattermost
    )


def _link_label(notification: Notification) -> str:
    return "pipeline" if notification.kind.value.startswith("pipeline.") else "deployment"


def _text_body(notification: Notification) -> str:
    label = _link_label(notification).capitalize()
    return f"{notification.body}\n\n{label}: {notification.link}"


_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]<>])")


def _markdown_body(notification: Notification) -> str:
    # Commit messages and names are text: escape what Markdown would turn into links or (in
    # email) HTML. Emphasis and `code` are left alone: `snake_case` in a commit message would
    # otherwise show backslashes in Slack, which keeps \_ as typed.
    body = _MARKDOWN_SPECIAL.sub(r"\\\1", notification.body)
    body = re.sub(r"&(?=#?[0-9A-Za-z]{1,32};)", r"\\&", body)
    link = quote(notification.link, safe=":/?#[]@!$&'*+,;=%~")
    return f"{body}\n\n[Open the {_link_label(notification)}]({link})"


def _failure(result: apprise.AppriseResult) -> str:
    timed_out = any(svc.status == apprise.AppriseResultStatus.TIMEOUT for svc in result)
    said: list[str] = []
    for entry in result.logs():
        if entry.message not in said:
            said.append(entry.message)
    head = f"no answer within {SEND_BUDGET:g} s" if timed_out else "not delivered"
    return f"{head}: {'; '.join(said)}" if said else head


def _scheme(url: str) -> str | None:
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else None


def _redact(text: str, url: str) -> str:
    """`text` with every part of `url` that could be a secret replaced by ``***``."""
    for part in sorted(_secret_parts(url), key=len, reverse=True):
        # Whole words only: a path part "notify" must not turn "notification" into "***cation".
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(part)}(?![A-Za-z0-9])", "***", text)
    return text


def _secret_parts(url: str) -> set[str]:
    url = url.strip()
    parts = {url}
    try:
        split = urlsplit(url.replace("/#", "/%23"))
    except ValueError:
        return parts
    userinfo, _, hostport = split.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = hostport.rsplit(":", 1)[0] if re.search(r":\d+$", hostport) else hostport
    pieces = [user, password, *split.path.split("/"), split.fragment]
    pieces += [value for _, value in parse_qsl(split.query, keep_blank_values=True)]
    # slack://TOKEN/..., discord://ID/TOKEN: the "host" of many Apprise URLs is a token; a
    # real host name (with a dot, or localhost) is left readable.
    if "." not in host and host.lower() != "localhost":
        pieces.append(host)
    for piece in pieces:
        for form in (piece, unquote(piece), quote(unquote(piece), safe="")):
            if len(form) >= 4:
                parts.add(form)
    return parts


def _short(commit: str) -> str:
    return commit[:7] if commit else "an unknown commit"


def _commit_line(commit: str, message: str) -> str:
    subject = next((line.strip() for line in message.splitlines() if line.strip()), "")
    if len(subject) > _SUBJECT_MAX:
        subject = subject[: _SUBJECT_MAX - 1].rstrip() + "…"
    sha = _short(commit) if commit else "unknown commit"
    return f"Commit {sha}: {subject}" if subject else f"Commit {sha}"
