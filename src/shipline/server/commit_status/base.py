"""Commit statuses, forge-neutral: Shipline's states, where to report, the request to send.

Everything here is pure. A forge module turns a `StatusTarget` plus a commit, a state, a link
and a sentence into a `StatusRequest` (commands as data); `send_status` in the package sends
it and turns the forge's answer into a `CommitStatusError` when it is not a success.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from shipline.errors import ShiplineError

# GitHub refuses API requests without a User-Agent ("Getting started with the REST API");
# the other forges do not need one, but it tells their admins who is calling.
USER_AGENT = "Shipline"

# Names a forge accepts in an owner, group, workspace or repository path segment. GitHub,
# GitLab, Gitea and Bitbucket slugs are all made of these characters.
NAME = re.compile(r"[A-Za-z0-9_.-]+")
HEX = re.compile(r"[0-9a-fA-F]+")

# Header values that carry a credential; `StatusRequest`'s repr hides them.
SECRET_HEADERS = frozenset({"authorization", "private-token"})

ELLIPSIS = "…"
MAX_ERROR_TEXT = 300  # characters of a forge's error text kept in an exception message


class StatusState(enum.StrEnum):
    """Shipline's own view of a pipeline; each forge module maps it onto the forge's words."""

    PENDING = "pending"  # recorded, not started
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    ERROR = "error"  # Shipline itself could not run it


@dataclass(frozen=True)
class StatusTarget:
    """Where statuses for one repository go, and the credential that may write them."""

    forge: str  # "github" | "gitlab" | "bitbucket" | "gitea"
    # "owner/repo" (GitHub, Gitea), "workspace/repo_slug" (Bitbucket),
    # numeric id or "group/sub/project" (GitLab)
    project: str
    token: str = field(repr=False)
    base_url: str | None = None  # None: the forge's public API
    context: str = "shipline"  # GitHub/Gitea context, GitLab name, Bitbucket key (and name)


@dataclass(frozen=True, repr=False)
class StatusRequest:
    """One HTTP request, built purely, sent in one place, tested exactly."""

    method: str
    url: str
    headers: dict[str, str]
    json: dict[str, object]

    def __repr__(self) -> str:
        # The headers carry the token; a log line or a failing assert must not show it.
        shown = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"StatusRequest(method={self.method!r}, url={self.url!r}, "
            f"headers={shown!r}, json={self.json!r})"
        )


class CommitStatusError(ShiplineError):
    """A commit status could not be built or delivered; the message never holds the token."""

    def __init__(
        self, message: str, *, forge: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.forge = forge
        self.status_code = status_code  # the forge's HTTP status, None when it never answered


Builder = Callable[[StatusTarget, str, StatusState, str, str], StatusRequest]
ErrorText = Callable[[object], str | None]


@dataclass(frozen=True)
class Forge:
    """One forge's commit status dialect."""

    name: str  # as in StatusTarget.forge
    title: str  # as people write it, for messages
    build: Builder  # (target, commit, state, target_url, description) -> request
    error_text: ErrorText  # the forge's own words in a decoded error body, or None


def api_base(target: StatusTarget, title: str, default: str | None) -> str:
    """The API root for `target` without a trailing slash; refuses URLs that cannot work."""
    raw = target.base_url if target.base_url is not None else default
    if raw is None:
        # No public default (Gitea is always self-hosted): guessing a host would send the
        # token to a server the user never named.
        raise CommitStatusError(
            f"{title} needs base_url, the API root of your server (https://HOST/api/v1)",
            forge=target.forge,
        )
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommitStatusError(
            f"{title} base_url must be an http(s) URL such as https://host/api, not {raw!r}",
            forge=target.forge,
        )
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would end up in error messages; they belong in `token`.
        raise CommitStatusError(
            f"{title} base_url must not contain credentials; put them in the token",
            forge=target.forge,
        )
    if parts.query or parts.fragment:
        raise CommitStatusError(
            f"{title} base_url must not have a query or fragment: {url!r}", forge=target.forge
        )
    return url


def check_commit(commit: str, lengths: Iterable[int], title: str, forge: str) -> str:
    """`commit` in lower case, if it is a full hex object name of one of `lengths`."""
    allowed = tuple(lengths)
    if HEX.fullmatch(commit) is None or len(commit) not in allowed:
        kinds = " or ".join(f"{n}" for n in allowed)
        raise CommitStatusError(
            f"{title} commit statuses need a full commit id ({kinds} hex characters), "
            f"not {commit!r}",
            forge=forge,
        )
    return commit.lower()


def split_name_pair(target: StatusTarget, title: str, form: str) -> tuple[str, str]:
    """`owner/repo`-style projects: exactly two well-formed names."""
    parts = target.project.split("/")
    if len(parts) != 2 or not all(is_name(part) for part in parts):
        raise CommitStatusError(
            f"{title} project must look like {form!r}, not {target.project!r}",
            forge=target.forge,
        )
    return parts[0], parts[1]


def is_name(segment: str) -> bool:
    return NAME.fullmatch(segment) is not None and segment not in (".", "..")


def segment(value: str) -> str:
    """One URL path segment, percent-encoded so that '/', '{' and the like stay inside it."""
    return quote(value, safe="")


def check_context(target: StatusTarget, title: str, limit: int | None = None) -> str:
    context = target.context.strip()
    if not context:
        raise CommitStatusError(f"{title} status context must not be empty", forge=target.forge)
    if limit is not None and len(context) > limit:
        # Truncating would make two contexts collide into one status; refuse instead.
        raise CommitStatusError(
            f"{title} status context must be at most {limit} characters, "
            f"not {len(context)} ({context!r})",
            forge=target.forge,
        )
    return context


def check_token(target: StatusTarget, title: str) -> str:
    token = target.token.strip()
    if not token:
        raise CommitStatusError(
            f"{title} needs a token to write commit statuses", forge=target.forge
        )
    if any(c in token for c in "\r\n"):
        raise CommitStatusError(f"{title} token must be a single line", forge=target.forge)
    return token


def truncate(text: str, limit: int | None) -> str:
    """`text` cut to `limit` characters (ending in '…' when cut); `None` keeps it whole."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def basic_auth(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode("ascii")


def secrets_of(token: str) -> list[str]:
    """Every form in which `token` could leak into text: itself, its parts, its Basic form."""
    token = token.strip()
    found = {token, base64.b64encode(token.encode()).decode("ascii")}
    if ":" in token:
        found.add(token.split(":", 1)[1])
    # Very short strings would blank out ordinary words; no real token is that short.
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def redact(text: str, token: str) -> str:
    for secret in secrets_of(token):
        text = text.replace(secret, "***")
    return text


def decode_json(body: bytes) -> object | None:
    try:
        decoded: object = json.loads(body)
    except ValueError:
        return None
    return decoded


_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")
_BLANKS = re.compile(r"\s+")


def plain_text(body: bytes) -> str:
    """A non-JSON body (an HTML error page from a proxy, say) as one short line of text."""
    text = body.decode("utf-8", errors="replace")
    text = _TAGS.sub(" ", _SCRIPTS.sub(" ", text))
    return _BLANKS.sub(" ", text).strip()


def one_line(text: str) -> str:
    return truncate(_BLANKS.sub(" ", text).strip(), MAX_ERROR_TEXT)


def join_texts(parts: Iterable[object]) -> str | None:
    """Non-empty strings among `parts`, joined with '; '; None when there are none."""
    texts = [p.strip() for p in parts if isinstance(p, str) and p.strip()]
    return "; ".join(dict.fromkeys(texts)) or None


def field_errors(fields: object) -> str | None:
    """`{"field": ["problem", ...]}` (GitLab, Bitbucket) as 'field: problem'."""
    if not isinstance(fields, dict):
        return None
    lines = []
    for name, problems in fields.items():
        listed = problems if isinstance(problems, list) else [problems]
        text = join_texts(listed)
        if text:
            lines.append(f"{name}: {text}")
    return "; ".join(lines) or None
