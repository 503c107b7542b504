"""Gitea commit statuses (always self-hosted).

Facts relied on (Gitea's API, swagger operation `repoCreateStatus` in
`routers/api/v1/repo/status.go`; `modules/structs` CreateStatusOption and CommitStatusState;
docs.gitea.com "API Usage"):

- `POST /repos/{owner}/{repo}/statuses/{sha}`, answered with `201 Created` and the Status
  (`id`, `status`, `target_url`, `description`, `url`, `context`, `creator`, `created_at`,
  `updated_at`); `400` with an error otherwise.
- Body (CreateStatusOption): `state` (`pending`, `success`, `error`, `failure`, `warning`;
  newer releases add `skipped`), `target_url`, `description`, `context`.
- "For historical reasons, Gitea needs the word `token` included before the API key token
  in an authorization header": `Authorization: token <TOKEN>`.
- API root `https://HOST/api/v1`. There is no public default: Shipline insists on base_url.
- `description`, `context` and `target_url` are TEXT columns (models/git/commit_status.go),
  the commit id is VARCHAR(64) (SHA-1 and SHA-256 repositories): no length limit to apply.
- Errors are `{"message": "…", "url": "https://HOST/api/swagger"}`, sometimes with
  `"errors": [...]`.
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
)

NAME = "gitea"
TITLE = "Gitea"

STATES: dict[StatusState, str] = {
    StatusState.PENDING: "pending",
    # Gitea has no "running"; its own Actions report running jobs as "pending" too.
    StatusState.RUNNING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failure",
    # Gitea Actions maps a cancelled run to "failure" (services/actions/commit_status.go,
    # toCommitStatus; an early release used "warning" and was changed). Follow the forge, so
    # a Shipline pipeline looks like a native one.
    StatusState.CANCELLED: "failure",
    # ...and keeps "error" for what it could not run at all, as Shipline's ERROR means.
    StatusState.ERROR: "error",
}


def build(
    target: StatusTarget, commit: str, state: StatusState, target_url: str, description: str
) -> StatusRequest:
    base = api_base(target, TITLE, None)
    owner, repo = split_name_pair(target, TITLE, "owner/repo")
    sha = check_commit(commit, (40, 64), TITLE, NAME)
    body: dict[str, object] = {
        "state": STATES[state],
        "description": description,
        "context": check_context(target, TITLE),
    }
    if target_url:
        body["target_url"] = target_url
    return StatusRequest(
        method="POST",
        url=f"{base}/repos/{segment(owner)}/{segment(repo)}/statuses/{sha}",
        headers={
            "Accept": "application/json",
            "Authorization": f"token {check_token(target, TITLE)}",
            "User-Agent": USER_AGENT,
        },
        json=body,
    )


def error_text(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    listed = errors if isinstance(errors, list) else []
    return join_texts([body.get("message"), *listed])


FORGE = Forge(NAME, TITLE, build, error_text)
