"""Bitbucket Cloud build statuses.

Facts relied on (developer.atlassian.com, Bitbucket Cloud REST API → Commit statuses →
"Create a build status for a commit", and → "Authentication methods"):

- `POST /repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build`, answered with
  `201 Created` and the commit status (`type`, `links`, `uuid`, `key`, `refname`, `url`,
  `state`, `name`, `description`, `created_on`, `updated_on`). "If the specified key already
  exists, the existing status object will be overwritten." `{commit}` is "the commit's SHA1";
  `workspace` and `repo_slug` may also be UUIDs in curly braces.
- Body: `key` (unique per vendor), `state` (`INPROGRESS`, `SUCCESSFUL`, `FAILED`,
  `STOPPED`), `name`, `url`, `description`, optional `refname`. `url` "accepts context
  variables" such as `{repository.full_name}` that Bitbucket expands when showing it.
- `key` longer than 40 characters is refused with `400` and `{"type": "error", "error":
  {"message": "key: Ensure this value has at most 40 characters (it has 48).", "fields":
  {"key": [...]}}}` (buildbot/buildbot#7049, runatlantis/atlantis#2037); no limit on
  `description` is documented, so none is applied.
- Access tokens (repository, project, workspace): `Authorization: Bearer <access_token>`.
  Basic auth takes `username:app_password` (app passwords are being replaced by API tokens,
  `email:api_token`, also Basic).
- API root `https://api.bitbucket.org/2.0`.
- Errors are `{"type": "error", "error": {"message": …, "detail"?: …, "fields"?: {…}}}`.
"""

from __future__ import annotations

import re

from shipline.server.commit_status.base import (
    USER_AGENT,
    CommitStatusError,
    Forge,
    StatusRequest,
    StatusState,
    StatusTarget,
    api_base,
    basic_auth,
    check_commit,
    check_context,
    check_token,
    field_errors,
    is_name,
    join_texts,
    segment,
)

NAME = "bitbucket"
TITLE = "Bitbucket"
DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0"
KEY_LIMIT = 40

UUID_SEGMENT = re.compile(r"\{[0-9a-fA-F-]{32,36}\}")

STATES: dict[StatusState, str] = {
    # Bitbucket has no "pending": a recorded pipeline shows as in progress.
    StatusState.PENDING: "INPROGRESS",
    StatusState.RUNNING: "INPROGRESS",
    StatusState.SUCCESS: "SUCCESSFUL",
    StatusState.FAILURE: "FAILED",
    StatusState.CANCELLED: "STOPPED",
    # No "error" either; STOPPED would read as "someone stopped it", so FAILED.
    StatusState.ERROR: "FAILED",
}


def split_project(target: StatusTarget) -> tuple[str, str]:
    parts = target.project.split("/")
    if len(parts) != 2 or not all(is_name(part) or UUID_SEGMENT.fullmatch(part) for part in parts):
        raise CommitStatusError(
            f"{TITLE} project must look like 'workspace/repo_slug', not {target.project!r}",
            forge=target.forge,
        )
    return parts[0], parts[1]


def authorization(token: str) -> str:
    # A ':' can only come from "user:app_password" (or "email:api_token"): Basic auth.
    # Anything else is an access token, sent as Bearer.
    return basic_auth(token) if ":" in token else f"Bearer {token}"


def build(
    target: StatusTarget, commit: str, state: StatusState, target_url: str, description: str
) -> StatusRequest:
    base = api_base(target, TITLE, DEFAULT_BASE_URL)
    workspace, repo = split_project(target)
    sha = check_commit(commit, (40,), TITLE, NAME)
    key = check_context(target, TITLE, KEY_LIMIT)
    if not target_url:
        raise CommitStatusError(f"{TITLE} build statuses need a url to link to", forge=NAME)
    return StatusRequest(
        method="POST",
        url=(
            f"{base}/repositories/{segment(workspace)}/{segment(repo)}/commit/{sha}/statuses/build"
        ),
        headers={
            "Accept": "application/json",
            "Authorization": authorization(check_token(target, TITLE)),
            "User-Agent": USER_AGENT,
        },
        json={
            "key": key,
            "state": STATES[state],
            "name": key,
            # Braces would be read as Bitbucket context variables; encoded, they stay literal.
            "url": target_url.replace("{", "%7B").replace("}", "%7D"),
            "description": description,
        },
    )


def error_text(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return join_texts([error, body.get("message")])
    message = join_texts([error.get("message"), error.get("detail")])
    fields = field_errors(error.get("fields"))
    if message and fields and fields not in message:
        return f"{message} ({fields})"
    return message or fields


FORGE = Forge(NAME, TITLE, build, error_text)
