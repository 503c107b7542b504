"""Git hosting over smart HTTP on a real `shipline serve`: push, clone, authentication."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *IDENTITY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_push_then_clone_over_http_with_a_token(
    served: Any, make_repo: Any, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    created = httpx.post(f"{served.url}/api/v1/repos", json={"name": "app"}, headers=headers)
    assert created.status_code == 201
    repo = make_repo("pipelines:\n  default:\n    - step:\n        script: [echo hi]\n")
    remote = f"http://anyone:{served.admin_token}@{served.url.removeprefix('http://')}/git/app.git"

    pushed = _git(repo, "push", remote, "HEAD:main", check=False)
    assert pushed.returncode == 0, pushed.stderr + served.output()

    clone = tmp_path / "clone"
    cloned = _git(tmp_path, "clone", remote, str(clone), check=False)
    assert cloned.returncode == 0, cloned.stderr + served.output()
    assert (clone / "bitbucket-pipelines.yml").exists()
    head = _git(repo, "rev-parse", "HEAD").stdout
    assert _git(clone, "rev-parse", "HEAD").stdout == head


def test_git_without_a_valid_token_is_refused(served: Any, make_repo: Any) -> None:
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    httpx.post(f"{served.url}/api/v1/repos", json={"name": "locked"}, headers=headers)
    repo = make_repo("pipelines:\n  default:\n    - step:\n        script: [echo hi]\n")
    host = served.url.removeprefix("http://")

    anonymous = _git(repo, "push", f"http://{host}/git/locked.git", "HEAD:main", check=False)
    wrong = _git(repo, "push", f"http://x:shp_nope@{host}/git/locked.git", "HEAD:main", check=False)

    assert anonymous.returncode != 0
    assert wrong.returncode != 0
    refs = httpx.get(f"{served.url}/git/locked.git/info/refs?service=git-receive-pack")
    assert refs.status_code == 401
    assert refs.headers["www-authenticate"].startswith("Basic")


def test_an_unknown_repository_is_a_404(served: Any) -> None:
    response = httpx.get(
        f"{served.url}/git/nothing.git/info/refs?service=git-upload-pack",
        auth=("x", served.admin_token),
    )
    assert response.status_code == 404
