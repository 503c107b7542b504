"""GitLab commit statuses (gitlab.com and self-managed GitLab).

Facts relied on (docs.gitlab.com, REST API → Commits → "Set the pipeline status of a commit";
GitLab's own `lib/api/commit_statuses.rb`, which declares the parameters):

- `POST /projects/:id/statuses/:sha`, where `:id` is the numeric project id or its
  URL-encoded path ("Namespaced paths": `group/sub/project` → `group%2Fsub%2Fproject`).
  Answered with `201 Created` and the commit status (`id`, `sha`, `ref`, `status`, `name`,
  `target_url`, `description`, `author`…).
- Parameters (query string, form or JSON body): `state` (required; `pending`, `running`,
  `success`, `failed`, `canceled`, `skipped`), `ref`, `name` or `context` (default
  `default`), `target_url`, `description`, `coverage`, `pipeline_id`. Recent releases
  document `description`, `target_url` and `ref` as "Must be 255 characters or fewer."
- Authentication with a personal, project or group access token: `PRIVATE-TOKEN: <token>`.
- API root `https://gitlab.com/api/v4`; self-managed `https://HOST/api/v4`.
- Errors are `{"message": "401 Unauthorized"}`, `{"message": "404 Project Not Found"}`,
  `{"message": {"field": ["problem"]}}` or, for parameter validation, `{"error": "…"}`.
"""

from __future__ import annotations

from shipline.server.commit_status.base import (
    USER_AGENT,
    CommitStatusError,
    Forge,
    StatusRequest,
    StatusState,
    StatusTarget,
    api_base,
    check_commit,
    check_context,
    check_token,
    field_errors,
    is_name,
    join_texts,
    segment,
    truncate,
)

NAME = "gitlab"
TITLE = "GitLab"
DEFAULT_BASE_URL = "https://gitlab.com/api/v4"
DESCRIPTION_LIMIT = 255
TARGET_URL_LIMIT = 255

STATES: dict[StatusState, str] = {
    StatusState.PENDING: "pending",
    StatusState.RUNNING: "running",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.CANCELLED: "canceled",
    # GitLab has no "error"; "failed" is the honest red for "it did not pass".
    StatusState.ERROR: "failed",
}


def project_id(target: StatusTarget) -> str:
    """The `:id` path segment: a numeric id as is, a full path URL-encoded."""
    project = target.project
    if project.isascii() and project.isdigit():
        return project
    parts = project.split("/")
    if len(parts) < 2 or not all(is_name(part) for part in parts):
        raise CommitStatusError(
            f"{TITLE} project must be a numeric id or a path like 'group/project' or "
            f"'group/subgroup/project', not {project!r}",
            forge=target.forge,
        )
    return segment(project)


def build(
    target: StatusTarget, commit: str, state: StatusState, target_url: str, description: str
) -> StatusRequest:
    base = api_base(target, TITLE, DEFAULT_BASE_URL)
    project = project_id(target)
    # GitLab can host SHA-256 repositories (experimental), so both object name lengths pass.
    sha = check_commit(commit, (40, 64), TITLE, NAME)
    body: dict[str, object] = {
        "state": STATES[state],
        "name": check_context(target, TITLE),
        "description": truncate(description, DESCRIPTION_LIMIT),
    }
    if target_url:
        if len(target_url) > TARGET_URL_LIMIT:
            # A cut URL would link somewhere wrong; refuse rather than mislead.
            raise CommitStatusError(
                f"{TITLE} target_url must be at most {TARGET_URL_LIMIT} characters, "
                f"not {len(target_url)}",
                forge=target.forge,
            )
        body["target_url"] = target_url
    return StatusRequest(
        method="POST",
        url=f"{base}/projects/{project}/statuses/{sha}",
        headers={
            "Accept": "application/json",
            "PRIVATE-TOKEN": check_token(target, TITLE),
            "User-Agent": USER_AGENT,
        },
        json=body,
    )


def error_text(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, dict):
        return field_errors(message)
    if isinstance(message, list):
        return join_texts(message)
    return join_texts([message, body.get("error"), body.get("error_description")])


FORGE = Forge(NAME, TITLE, build, error_text)
