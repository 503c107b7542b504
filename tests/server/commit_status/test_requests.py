"""status_request: the exact request each forge documents, per state, and refused inputs."""

from __future__ import annotations

import base64

import pytest

from shipline.errors import ShiplineError
from shipline.server.commit_status import (
    FORGE_NAMES,
    CommitStatusError,
    StatusRequest,
    StatusState,
    StatusTarget,
    status_request,
)

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
TOKEN = "ghp_s3cr3tT0kenValue1234567890"
LINK = "https://ci.example.com/api/v1/repos/webshop/pipelines/7"
S = StatusState


def request(target: StatusTarget, state: StatusState = S.SUCCESS, **kw: str) -> StatusRequest:
    return status_request(
        target, kw.get("commit", SHA), state, kw.get("url", LINK), kw.get("text", "Passed")
    )


def test_the_supported_forges() -> None:
    assert FORGE_NAMES == ("github", "gitlab", "bitbucket", "gitea")
    assert issubclass(CommitStatusError, ShiplineError)


# --- GitHub -------------------------------------------------------------------------------

GITHUB_STATES = [
    (S.PENDING, "pending"),
    (S.RUNNING, "pending"),
    (S.SUCCESS, "success"),
    (S.FAILURE, "failure"),
    (S.CANCELLED, "error"),
    (S.ERROR, "error"),
]


@pytest.mark.parametrize(("state", "wire"), GITHUB_STATES)
def test_github_request(state: StatusState, wire: str) -> None:
    target = StatusTarget("github", "octocat/Hello-World", TOKEN)
    assert request(target, state, text="Build #7 passed") == StatusRequest(
        method="POST",
        url=f"https://api.github.com/repos/octocat/Hello-World/statuses/{SHA}",
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {TOKEN}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "Shipline",
        },
        json={
            "state": wire,
            "description": "Build #7 passed",
            "context": "shipline",
            "target_url": LINK,
        },
    )


def test_github_enterprise_server_base_url_with_trailing_slash() -> None:
    target = StatusTarget(
        "github", "acme/api", TOKEN, base_url="https://ghe.acme.test/api/v3/", context="ci/x"
    )
    built = request(target)
    assert built.url == f"https://ghe.acme.test/api/v3/repos/acme/api/statuses/{SHA}"
    assert built.json["context"] == "ci/x"


def test_github_description_is_cut_to_140_characters() -> None:
    target = StatusTarget("github", "o/r", TOKEN)
    exact = "x" * 140
    assert request(target, text=exact).json["description"] == exact
    cut = request(target, text="é" * 141).json["description"]
    assert cut == "é" * 139 + "…"
    assert isinstance(cut, str)
    assert len(cut) == 140


def test_github_without_a_link_sends_no_target_url() -> None:
    built = request(StatusTarget("github", "o/r", TOKEN), url="")
    assert "target_url" not in built.json


def test_an_upper_case_commit_is_sent_in_lower_case() -> None:
    built = request(StatusTarget("github", "o/r", TOKEN), commit=SHA.upper())
    assert built.url.endswith(f"/statuses/{SHA}")


# --- GitLab -------------------------------------------------------------------------------

GITLAB_STATES = [
    (S.PENDING, "pending"),
    (S.RUNNING, "running"),
    (S.SUCCESS, "success"),
    (S.FAILURE, "failed"),
    (S.CANCELLED, "canceled"),
    (S.ERROR, "failed"),
]


@pytest.mark.parametrize(("state", "wire"), GITLAB_STATES)
def test_gitlab_request_with_an_encoded_path(state: StatusState, wire: str) -> None:
    target = StatusTarget("gitlab", "group/sub.group/my-project", "glpat-abcdefghij")
    assert request(target, state) == StatusRequest(
        method="POST",
        url=f"https://gitlab.com/api/v4/projects/group%2Fsub.group%2Fmy-project/statuses/{SHA}",
        headers={
            "Accept": "application/json",
            "PRIVATE-TOKEN": "glpat-abcdefghij",
            "User-Agent": "Shipline",
        },
        json={"state": wire, "name": "shipline", "description": "Passed", "target_url": LINK},
    )


def test_gitlab_numeric_id_on_a_self_managed_server() -> None:
    target = StatusTarget("gitlab", "17", "glpat-x1y2z3", base_url="https://git.acme.test/api/v4/")
    assert request(target).url == f"https://git.acme.test/api/v4/projects/17/statuses/{SHA}"


def test_gitlab_accepts_sha256_commits() -> None:
    sha256 = "a" * 64
    target = StatusTarget("gitlab", "17", "glpat-x1y2z3")
    assert request(target, commit=sha256).url.endswith(f"/statuses/{sha256}")


def test_gitlab_description_is_cut_to_255_characters() -> None:
    cut = request(StatusTarget("gitlab", "17", "glpat-x1y2z3"), text="d" * 300).json
    assert cut["description"] == "d" * 254 + "…"


def test_gitlab_refuses_a_target_url_over_255_characters() -> None:
    target = StatusTarget("gitlab", "17", "glpat-x1y2z3")
    with pytest.raises(CommitStatusError, match="GitLab target_url must be at most 255"):
        request(target, url="https://ci.example.com/" + "p" * 240)


# --- Bitbucket ----------------------------------------------------------------------------

BITBUCKET_STATES = [
    (S.PENDING, "INPROGRESS"),
    (S.RUNNING, "INPROGRESS"),
    (S.SUCCESS, "SUCCESSFUL"),
    (S.FAILURE, "FAILED"),
    (S.CANCELLED, "STOPPED"),
    (S.ERROR, "FAILED"),
]


@pytest.mark.parametrize(("state", "wire"), BITBUCKET_STATES)
def test_bitbucket_request_with_an_access_token(state: StatusState, wire: str) -> None:
    target = StatusTarget("bitbucket", "my-workspace/my-repo", "ATCTT3xFfGN0access")
    assert request(target, state, text="42 tests passed") == StatusRequest(
        method="POST",
        url=(
            "https://api.bitbucket.org/2.0/repositories/my-workspace/my-repo"
            f"/commit/{SHA}/statuses/build"
        ),
        headers={
            "Accept": "application/json",
            "Authorization": "Bearer ATCTT3xFfGN0access",
            "User-Agent": "Shipline",
        },
        json={
            "key": "shipline",
            "state": wire,
            "name": "shipline",
            "url": LINK,
            "description": "42 tests passed",
        },
    )


def test_bitbucket_user_and_app_password_use_basic_auth() -> None:
    target = StatusTarget("bitbucket", "ws/repo", "jdoe:app-pass-word")
    expected = "Basic " + base64.b64encode(b"jdoe:app-pass-word").decode()
    assert request(target).headers["Authorization"] == expected


def test_bitbucket_uuid_workspace_and_braces_in_the_link() -> None:
    uuid = "{1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b}"
    target = StatusTarget("bitbucket", f"{uuid}/repo", "tok-12345", base_url="http://bb.test/2.0")
    built = request(target, url="https://ci.example.com/p/{x}")
    assert built.url == (
        "http://bb.test/2.0/repositories/%7B1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b%7D/repo"
        f"/commit/{SHA}/statuses/build"
    )
    # Literal braces would be expanded by Bitbucket as context variables.
    assert built.json["url"] == "https://ci.example.com/p/%7Bx%7D"


def test_bitbucket_long_descriptions_are_kept() -> None:
    text = "t" * 1000  # no documented limit
    assert (
        request(StatusTarget("bitbucket", "w/r", "tok-12345"), text=text).json["description"]
        == text
    )


def test_bitbucket_key_over_40_characters_is_refused() -> None:
    target = StatusTarget("bitbucket", "w/r", "tok-12345", context="k" * 41)
    with pytest.raises(CommitStatusError, match="at most 40 characters, not 41"):
        request(target)
    assert request(StatusTarget("bitbucket", "w/r", "tok-12345", context="k" * 40))


def test_bitbucket_needs_a_link() -> None:
    with pytest.raises(CommitStatusError, match="Bitbucket build statuses need a url"):
        request(StatusTarget("bitbucket", "w/r", "tok-12345"), url="")


# --- Gitea --------------------------------------------------------------------------------

GITEA_STATES = [
    (S.PENDING, "pending"),
    (S.RUNNING, "pending"),
    (S.SUCCESS, "success"),
    (S.FAILURE, "failure"),
    (S.CANCELLED, "failure"),
    (S.ERROR, "error"),
]


@pytest.mark.parametrize(("state", "wire"), GITEA_STATES)
def test_gitea_request(state: StatusState, wire: str) -> None:
    target = StatusTarget(
        "gitea", "my_org/web.shop", "65eaa9c8ef52460d22a9", base_url="https://git.acme.test/api/v1/"
    )
    assert request(target, state, text="t" * 500) == StatusRequest(
        method="POST",
        url=f"https://git.acme.test/api/v1/repos/my_org/web.shop/statuses/{SHA}",
        headers={
            "Accept": "application/json",
            "Authorization": "token 65eaa9c8ef52460d22a9",
            "User-Agent": "Shipline",
        },
        json={"state": wire, "description": "t" * 500, "context": "shipline", "target_url": LINK},
    )


def test_gitea_needs_a_base_url() -> None:
    with pytest.raises(CommitStatusError, match=r"Gitea needs base_url"):
        request(StatusTarget("gitea", "o/r", TOKEN))


# --- refused inputs -----------------------------------------------------------------------


def test_an_unknown_forge_names_the_supported_ones() -> None:
    with pytest.raises(CommitStatusError) as caught:
        request(StatusTarget("sourcehut", "o/r", TOKEN))
    assert str(caught.value) == (
        "unknown forge 'sourcehut'; Shipline reports commit statuses to "
        "github, gitlab, bitbucket, gitea"
    )


@pytest.mark.parametrize(
    ("forge", "project", "expected"),
    [
        ("github", "octocat", "GitHub project must look like 'owner/repo'"),
        ("github", "o/r/x", "GitHub project must look like 'owner/repo'"),
        ("github", "o/", "GitHub project must look like 'owner/repo'"),
        ("github", "o/../r", "GitHub project must look like 'owner/repo'"),
        ("github", "o/r?x=1", "GitHub project must look like 'owner/repo'"),
        ("gitea", "o r/x", "Gitea project must look like 'owner/repo'"),
        ("gitlab", "project", "GitLab project must be a numeric id or a path"),
        ("gitlab", "group//project", "GitLab project must be a numeric id or a path"),
        ("gitlab", "-1", "GitLab project must be a numeric id or a path"),
        ("bitbucket", "ws", "Bitbucket project must look like 'workspace/repo_slug'"),
        ("bitbucket", "ws/r/x", "Bitbucket project must look like 'workspace/repo_slug'"),
    ],
)
def test_malformed_projects_are_refused(forge: str, project: str, expected: str) -> None:
    target = StatusTarget(forge, project, TOKEN, base_url="https://forge.test/api")
    with pytest.raises(CommitStatusError, match=expected.replace("?", r"\?")) as caught:
        request(target)
    assert caught.value.forge == forge


@pytest.mark.parametrize(
    ("forge", "commit"),
    [
        ("github", "6dcb09b"),  # abbreviated
        ("github", "g" * 40),  # not hex
        ("github", "a" * 64),  # GitHub has no SHA-256 repositories
        ("bitbucket", "a" * 64),
        ("gitlab", "a" * 41),
        ("gitea", ""),
        ("gitea", "main"),
    ],
)
def test_commits_that_are_not_full_ids_are_refused(forge: str, commit: str) -> None:
    target = StatusTarget(forge, "o/r", TOKEN, base_url="https://forge.test/api")
    with pytest.raises(CommitStatusError, match="need a full commit id"):
        request(target, commit=commit)


def test_gitea_accepts_sha256_commits() -> None:
    target = StatusTarget("gitea", "o/r", TOKEN, base_url="https://forge.test/api/v1")
    assert request(target, commit="b" * 64).url.endswith("/statuses/" + "b" * 64)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("ftp://ghe.test/api/v3", "must be an http"),
        ("ghe.test/api/v3", "must be an http"),
        ("https://", "must be an http"),
        ("https://user:pw@ghe.test/api/v3", "must not contain credentials"),
        ("https://ghe.test/api/v3?x=1", "must not have a query"),
    ],
)
def test_unusable_base_urls_are_refused(base_url: str, expected: str) -> None:
    with pytest.raises(CommitStatusError, match=expected):
        request(StatusTarget("github", "o/r", TOKEN, base_url=base_url))


@pytest.mark.parametrize("token", ["", "   ", "abc\r\nX-Evil: 1"])
def test_empty_or_multi_line_tokens_are_refused(token: str) -> None:
    with pytest.raises(CommitStatusError, match="token"):
        request(StatusTarget("github", "o/r", token))


def test_an_empty_context_is_refused() -> None:
    with pytest.raises(CommitStatusError, match="context must not be empty"):
        request(StatusTarget("github", "o/r", TOKEN, context=" "))


def test_states_may_be_given_by_value_but_must_exist() -> None:
    target = StatusTarget("gitlab", "17", "glpat-x1y2z3")
    built = status_request(target, SHA, "running", LINK, "")  # type: ignore[arg-type]
    assert built.json["state"] == "running"
    with pytest.raises(CommitStatusError, match="unknown commit status state 'done'"):
        status_request(target, SHA, "done", LINK, "")  # type: ignore[arg-type]


# --- the token stays hidden ---------------------------------------------------------------


def test_reprs_hide_the_token() -> None:
    target = StatusTarget("github", "o/r", TOKEN)
    assert TOKEN not in repr(target)
    built = request(target)
    assert TOKEN not in repr(built)
    assert "'Authorization': '***'" in repr(built)
    gitlab = request(StatusTarget("gitlab", "17", TOKEN))
    assert TOKEN not in repr(gitlab)
    basic = request(StatusTarget("bitbucket", "w/r", f"jdoe:{TOKEN}"))
    assert TOKEN not in repr(basic)
    assert basic.headers["Authorization"].split()[1] not in repr(basic)


def test_validation_errors_never_hold_the_token() -> None:
    for target in (
        StatusTarget("github", "bad", TOKEN),
        StatusTarget("nope", "o/r", TOKEN),
        StatusTarget("bitbucket", "w/r", TOKEN, context="k" * 50),
    ):
        with pytest.raises(CommitStatusError) as caught:
            request(target)
        assert TOKEN not in str(caught.value)
        assert TOKEN not in repr(caught.value)
