"""GitHub commit statuses (github.com and GitHub Enterprise Server).

Facts relied on (docs.github.com, REST API → Commits → Commit statuses → "Create a commit
status"; the same operation in github/rest-api-description, `repos/create-commit-status`):

- `POST /repos/{owner}/{repo}/statuses/{sha}`, answered with `201 Created` and the Status
  object (`url`, `id`, `state`, `description`, `target_url`, `context`, `creator`…).
- Body: `state` (required; one of `error`, `failure`, `pending`, `success`), `target_url`,
  `description` ("a short description of the status"), `context` (default `default`,
  case-insensitive). At most 1000 statuses per `sha` and `context`.
- Headers, as in every example of the reference: `Accept: application/vnd.github+json`,
  `Authorization: Bearer <YOUR-TOKEN>`, `X-GitHub-Api-Version: 2022-11-28`.
- API root `https://api.github.com`; on GitHub Enterprise Server `https://HOST/api/v3`.
- `description` over 140 characters is refused with `422 Validation Failed` and
  `{"resource": "Status", "field": "description", "code": "custom", "message":
  "description is too long (maximum is 140 characters)"}` — not in the reference, but what
  the API answers (reported in zalando/zappr#378, brigadecore/brigade#38, packit/ogr#143).
- Errors are `{"message": "Bad credentials", "documentation_url": …, "status": "401"}`;
  a 422 adds `"errors": [{"resource", "field", "code", "message"?}]`.
"""

from __future__ import annotations

from shipline.server.commit_status.base import (
    USER_AGENT,
    Forge,
    StatusRequest,
    StatusState,
    StatusTarget,
    api_base,
    check_commit,
    check_context,
    check_token,
    join_texts,
    segment,
    split_name_pair,
    truncate,
)

NAME = "github"
TITLE = "GitHub"
DEFAULT_BASE_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
DESCRIPTION_LIMIT = 140

STATES: dict[StatusState, str] = {
    StatusState.PENDING: "pending",
    # GitHub has no "running": a started pipeline is still pending a verdict.
    StatusState.RUNNING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failure",
    # "failure" would say the commit is broken; a cancelled pipeline gave no verdict. Like
    # Jenkins' GitHub plugin (ABORTED → ERROR) and Travis CI (canceled → error), report
    # "error"; both block a protected branch the same way.
    StatusState.CANCELLED: "error",
    StatusState.ERROR: "error",
}


def build(
    target: StatusTarget, commit: str, state: StatusState, target_url: str, description: str
) -> StatusRequest:
    base = api_base(target, TITLE, DEFAULT_BASE_URL)
    owner, repo = split_name_pair(target, TITLE, "owner/repo")
    sha = check_commit(commit, (40,), TITLE, NAME)  # GitHub repositories are SHA-1 only
    body: dict[str, object] = {
        "state": STATES[state],
        "description": truncate(description, DESCRIPTION_LIMIT),
        "context": check_context(target, TITLE),
    }
    if target_url:
        body["target_url"] = target_url
    return StatusRequest(
        method="POST",
        url=f"{base}/repos/{segment(owner)}/{segment(repo)}/statuses/{sha}",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {check_token(target, TITLE)}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        },
        json=body,
    )


def error_text(body: object) -> str | None:
    """'Validation Failed: description is too long (maximum is 140 characters)'."""
    if not isinstance(body, dict):
        return None
    details = []
    errors = body.get("errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            described = item.get("message")
            if not (isinstance(described, str) and described.strip()):
                described = " ".join(
                    str(item[key]) for key in ("field", "code") if isinstance(item.get(key), str)
                )
            details.append(described)
        elif isinstance(item, str):
            details.append(item)
    message = body.get("message")
    detail = join_texts(details)
    if isinstance(message, str) and message.strip():
        return f"{message.strip()}: {detail}" if detail else message.strip()
    return detail


FORGE = Forge(NAME, TITLE, build, error_text)
