"""send_status against a real local HTTP server standing in for each forge's API."""

from __future__ import annotations

import base64
import socket
import time
from typing import Any

import httpx
import pytest

from shipline.server.commit_status import (
    CommitStatusError,
    StatusState,
    StatusTarget,
    send_status,
    status_request,
)

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
TOKEN = "s3cr3t-T0ken-4e8b1f2a9c"
LINK = "https://ci.example.com/api/v1/repos/webshop/pipelines/7"

# forge → (API root under the local server, project, the request path the forge documents)
FORGES: dict[str, tuple[str, str, str]] = {
    "github": (
        "/api/v3", "octocat/Hello-World", f"/api/v3/repos/octocat/Hello-World/statuses/{SHA}"
    ),
    "gitlab": (
        "/api/v4", "group/sub/project", f"/api/v4/projects/group%2Fsub%2Fproject/statuses/{SHA}"
    ),
    "bitbucket": (
        "/2.0",
        "my-workspace/my-repo",
        f"/2.0/repositories/my-workspace/my-repo/commit/{SHA}/statuses/build",
    ),
    "gitea": ("/api/v1", "my-org/webshop", f"/api/v1/repos/my-org/webshop/statuses/{SHA}"),
}  # fmt: skip

AUTH_HEADER = {
    "github": ("authorization", f"Bearer {TOKEN}"),
    "gitlab": ("private-token", TOKEN),
    "bitbucket": ("authorization", f"Bearer {TOKEN}"),
    "gitea": ("authorization", f"token {TOKEN}"),
}


def target_on(server: Any, forge: str, token: str = TOKEN) -> StatusTarget:
    root, project, _ = FORGES[forge]
    server.forge = forge
    return StatusTarget(forge, project, token, base_url=server.url + root + "/")


def send(target: StatusTarget, state: StatusState = StatusState.RUNNING, **kw: Any) -> None:
    send_status(target, SHA, state, LINK, "Pipeline #7 is running", **kw)


@pytest.mark.parametrize("forge", list(FORGES))
def test_the_documented_request_reaches_the_forge(forge_server: Any, forge: str) -> None:
    target = target_on(forge_server, forge)
    send(target)
    [seen] = forge_server.requests
    assert seen.method == "POST"
    assert seen.path == FORGES[forge][2]
    name, value = AUTH_HEADER[forge]
    assert seen.headers[name] == value
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == "Shipline"
    expected = status_request(target, SHA, StatusState.RUNNING, LINK, "Pipeline #7 is running")
    assert seen.body == expected.json
    for header, header_value in expected.headers.items():
        assert seen.headers[header.lower()] == header_value


def test_github_headers_as_documented(forge_server: Any) -> None:
    send(target_on(forge_server, "github"), StatusState.SUCCESS)
    [seen] = forge_server.requests
    assert seen.headers["accept"] == "application/vnd.github+json"
    assert seen.headers["x-github-api-version"] == "2022-11-28"
    assert seen.body == {
        "state": "success",
        "description": "Pipeline #7 is running",
        "context": "shipline",
        "target_url": LINK,
    }


def test_bitbucket_basic_auth_reaches_the_forge(forge_server: Any) -> None:
    send(target_on(forge_server, "bitbucket", token="jdoe:app-password-123"))
    [seen] = forge_server.requests
    assert (
        seen.headers["authorization"]
        == "Basic " + base64.b64encode(b"jdoe:app-password-123").decode()
    )


def test_a_given_client_is_used_and_left_open(forge_server: Any) -> None:
    with httpx.Client() as client:
        send(target_on(forge_server, "gitlab"), StatusState.SUCCESS, client=client)
        send(target_on(forge_server, "gitlab"), StatusState.FAILURE, client=client)
        assert not client.is_closed
    assert [r.body["state"] for r in forge_server.requests] == ["success", "failed"]


# --- refusals: the forge's own words, the status, never the token ---------------------------

GITHUB_422 = {
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "Status",
            "code": "custom",
            "field": "description",
            "message": "description is too long (maximum is 140 characters)",
        }
    ],
    "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
    "status": "422",
}
HTML_500 = (
    b"<html><head><title>500 Internal Server Error</title><style>body{color:red}</style>"
    b"</head><body><center><h1>500 Internal Server Error</h1></center><hr>"
    b"<center>nginx</center></body></html>"
)

REFUSALS = [
    pytest.param(
        "github", 401,
        {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
         "status": "401"},
        "GitHub refused the commit status for octocat/Hello-World@6dcb09b5b578 "
        "(HTTP 401 Unauthorized): Bad credentials",
        id="github-401",
    ),
    pytest.param(
        "github", 404,
        {"message": "Not Found",
         "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status",
         "status": "404"},
        "(HTTP 404 Not Found): Not Found",
        id="github-404",
    ),
    pytest.param(
        "github", 422, GITHUB_422,
        "(HTTP 422 Unprocessable Entity): Validation Failed: "
        "description is too long (maximum is 140 characters)",
        id="github-422",
    ),
    pytest.param(
        "gitlab", 401, {"message": "401 Unauthorized"},
        "GitLab refused the commit status for group/sub/project@6dcb09b5b578 "
        "(HTTP 401 Unauthorized): 401 Unauthorized",
        id="gitlab-401",
    ),
    pytest.param(
        "gitlab", 404, {"message": "404 Project Not Found"},
        "(HTTP 404 Not Found): 404 Project Not Found",
        id="gitlab-404",
    ),
    pytest.param(
        "gitlab", 400, {"error": "state does not have a valid value"},
        "(HTTP 400 Bad Request): state does not have a valid value",
        id="gitlab-400-parameter",
    ),
    pytest.param(
        "gitlab", 400,
        {"message": "Cannot transition status via :run from :running (Reason(s): "
                    "Status cannot transition via \"run\")"},
        "Cannot transition status via :run from :running",
        id="gitlab-400-transition",
    ),
    pytest.param(
        "bitbucket", 401,
        {"type": "error", "error": {"message": "Access token expired."}},
        "Bitbucket refused the commit status for my-workspace/my-repo@6dcb09b5b578 "
        "(HTTP 401 Unauthorized): Access token expired.",
        id="bitbucket-401",
    ),
    pytest.param(
        "bitbucket", 400,
        {"type": "error", "error": {
            "message": "key: Ensure this value has at most 40 characters (it has 48).",
            "fields": {"key": ["Ensure this value has at most 40 characters (it has 48)."]}}},
        "(HTTP 400 Bad Request): key: Ensure this value has at most 40 characters (it has 48).",
        id="bitbucket-400-fields",
    ),
    pytest.param(
        "bitbucket", 404,
        {"type": "error", "error": {"message": "Repository my-workspace/my-repo not found"}},
        "(HTTP 404 Not Found): Repository my-workspace/my-repo not found",
        id="bitbucket-404",
    ),
    pytest.param(
        "gitea", 404,
        {"errors": ["repository does not exist"], "message": "The target couldn't be found.",
         "url": "https://git.acme.test/api/swagger"},
        "Gitea refused the commit status for my-org/webshop@6dcb09b5b578 "
        "(HTTP 404 Not Found): The target couldn't be found.; repository does not exist",
        id="gitea-404",
    ),
    pytest.param(
        "gitea", 422,
        {"message": "[State]: Required", "url": "https://git.acme.test/api/swagger"},
        "(HTTP 422 Unprocessable Entity): [State]: Required",
        id="gitea-422",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("forge", "status", "body", "expected"), REFUSALS)
def test_a_refusal_carries_the_forges_words(
    forge_server: Any, forge: str, status: int, body: Any, expected: str
) -> None:
    forge_server.answer(status, body)
    with pytest.raises(CommitStatusError) as caught:
        send(target_on(forge_server, forge))
    message = str(caught.value)
    assert expected in message
    assert caught.value.status_code == status
    assert caught.value.forge == forge
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value)


@pytest.mark.parametrize("forge", list(FORGES))
def test_an_html_error_page_becomes_one_line_of_text(forge_server: Any, forge: str) -> None:
    forge_server.answer(500, HTML_500, content_type="text/html")
    with pytest.raises(CommitStatusError) as caught:
        send(target_on(forge_server, forge))
    message = str(caught.value)
    assert message.endswith(
        "(HTTP 500 Internal Server Error): "
        "500 Internal Server Error 500 Internal Server Error nginx"
    )
    assert "<" not in message
    assert "color" not in message
    assert caught.value.status_code == 500


def test_an_empty_error_body_still_names_the_status(forge_server: Any) -> None:
    forge_server.answer(502, b"", content_type="text/plain")
    with pytest.raises(CommitStatusError) as caught:
        send(target_on(forge_server, "gitea"))
    assert str(caught.value) == (
        "Gitea refused the commit status for my-org/webshop@6dcb09b5b578 (HTTP 502 Bad Gateway)"
    )


def test_a_redirect_is_reported_not_followed(forge_server: Any) -> None:
    forge_server.answer(301, b"", content_type="text/html", Location="https://elsewhere.test/")
    with pytest.raises(CommitStatusError, match=r"\(HTTP 301 Moved Permanently\)"):
        send(target_on(forge_server, "github"))
    assert len(forge_server.requests) == 1


def test_a_token_the_forge_echoes_back_is_hidden(forge_server: Any) -> None:
    forge_server.answer(401, {"message": f"token {TOKEN} has been revoked"})
    with pytest.raises(CommitStatusError) as caught:
        send(target_on(forge_server, "gitea"))
    assert str(caught.value).endswith("(HTTP 401 Unauthorized): token *** has been revoked")


def test_an_echoed_app_password_is_hidden(forge_server: Any) -> None:
    credentials = "jdoe:app-password-123"
    basic = base64.b64encode(credentials.encode()).decode()
    forge_server.answer(
        401, {"type": "error", "error": {"message": f"bad app-password-123 ({basic})"}}
    )
    with pytest.raises(CommitStatusError) as caught:
        send(target_on(forge_server, "bitbucket", token=credentials))
    message = str(caught.value)
    assert "app-password-123" not in message
    assert basic not in message
    assert message.endswith("bad *** (***)")


# --- nobody answers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


@pytest.mark.parametrize("forge", list(FORGES))
def test_connection_refused(forge: str) -> None:
    root, project, _ = FORGES[forge]
    base = f"http://127.0.0.1:{free_port()}{root}"
    target = StatusTarget(forge, project, TOKEN, base_url=base)
    with pytest.raises(CommitStatusError) as caught:
        send(target)
    message = str(caught.value)
    title = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket", "gitea": "Gitea"}
    assert message.startswith(f"could not connect to {title[forge]} at {base}/")
    assert "refused" in message.lower()
    assert message.endswith("the commit status was not reported")
    assert caught.value.status_code is None
    assert TOKEN not in message


def test_a_silent_forge_times_out(forge_server: Any) -> None:
    forge_server.stall.set()
    target = target_on(forge_server, "github")
    started = time.monotonic()
    with pytest.raises(CommitStatusError) as caught:
        send(target, timeout=0.3)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message == (
        f"GitHub did not answer within 0.3 s at {forge_server.url}/api/v3/repos/octocat/"
        f"Hello-World/statuses/{SHA}; the commit status was not reported"
    )
    assert caught.value.status_code is None
    assert TOKEN not in message


def test_the_timeout_also_applies_to_a_given_client(forge_server: Any) -> None:
    forge_server.stall.set()
    with (
        httpx.Client(timeout=60) as client,
        pytest.raises(CommitStatusError, match=r"within 0\.2 s"),
    ):
        send(target_on(forge_server, "gitlab"), client=client, timeout=0.2)


def test_invalid_input_is_refused_before_anything_is_sent(forge_server: Any) -> None:
    target = target_on(forge_server, "github")
    with pytest.raises(CommitStatusError, match="full commit id"):
        send_status(target, "abc123", StatusState.SUCCESS, LINK, "x")
    assert forge_server.requests == []
