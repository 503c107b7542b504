"""`git push` to a running `shipline serve` starts the pipeline: the whole path, for real."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]
PIPELINE = """
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo "building $BITBUCKET_COMMIT as build $BITBUCKET_BUILD_NUMBER on $BITBUCKET_BRANCH"
          - mkdir -p dist && echo app > dist/app.txt
        artifacts: [dist/**]
    - step:
        name: Ship
        trigger: manual
        script: [cat dist/app.txt]
  tags:
    'v*':
      - step:
          name: Release
          script: [echo "releasing $BITBUCKET_TAG"]
"""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *IDENTITY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd)},
    )


class Client:
    def __init__(self, served: Any) -> None:
        self.served = served
        self.headers = {"Authorization": f"Bearer {served.admin_token}"}

    def remote(self, repo: str) -> str:
        host = self.served.url.removeprefix("http://")
        return f"http://x:{self.served.admin_token}@{host}/git/{repo}.git"

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.served.url}/api/v1{path}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text

    def wait(self, repo: str, number: int, until: set[str]) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pipeline: dict[str, Any] = self.get(f"/repos/{repo}/pipelines/{number}")
            if pipeline["status"] in until:
                return pipeline
            time.sleep(0.1)
        raise AssertionError(
            f"{repo}#{number} never reached {until}: {pipeline}\n" + self.served.output()
        )


def test_a_push_starts_the_pipeline_and_the_pusher_sees_its_url(
    served: Any, make_repo: Any
) -> None:
    api = Client(served)
    httpx.post(f"{served.url}/api/v1/repos", json={"name": "shop"}, headers=api.headers)
    repo = make_repo(PIPELINE)
    commit = _git(repo, "rev-parse", "HEAD").stdout.strip()

    pushed = _git(repo, "push", api.remote("shop"), "HEAD:main")

    assert pushed.returncode == 0, pushed.stderr
    url = f"{served.url}/api/v1/repos/shop/pipelines/1"
    assert f"remote: shipline: pipeline #1 (default) for main: {url}" in pushed.stderr
    pipeline = api.wait("shop", 1, {"paused", "failed", "passed"})
    assert pipeline["status"] == "paused", pipeline
    assert pipeline["commit"] == commit
    assert [(s["name"], s["status"]) for s in pipeline["steps"]] == [
        ("Build", "passed"),
        ("Ship", "paused"),
    ]
    log = api.get("/repos/shop/pipelines/1/steps/step-1/log")
    assert f"building {commit} as build 1 on main" in log


def test_tags_deletions_and_skip_ci_follow_bitbucket(served: Any, make_repo: Any) -> None:
    api = Client(served)
    httpx.post(f"{served.url}/api/v1/repos", json={"name": "lib"}, headers=api.headers)
    repo = make_repo(PIPELINE)
    assert _git(repo, "push", api.remote("lib"), "HEAD:main").returncode == 0

    _git(repo, "tag", "v1.0")
    tagged = _git(repo, "push", api.remote("lib"), "v1.0")
    _git(repo, "commit", "--allow-empty", "-qm", "docs only [skip ci]")
    skipped = _git(repo, "push", api.remote("lib"), "HEAD:main")
    _git(repo, "push", api.remote("lib"), "HEAD:refs/heads/topic")
    deleted = _git(repo, "push", api.remote("lib"), ":topic")

    assert "pipeline #2 (tags.v*) for v1.0" in tagged.stderr, tagged.stderr
    release = api.wait("lib", 2, {"passed", "failed"})
    assert release["status"] == "passed"
    assert "releasing v1.0" in api.get("/repos/lib/pipelines/2/steps/step-1/log")
    assert "no pipeline runs (the commit message contains [skip ci]" in skipped.stderr
    assert "refs/heads/topic: deleted, nothing to run" in deleted.stderr
    numbers = [p["number"] for p in api.get("/repos/lib/pipelines")]
    # main and v1.0 ran; the [skip ci] commit started nothing, on main or on the new topic branch.
    assert numbers == [2, 1]


def test_an_invalid_pipeline_file_is_reported_to_the_pusher(served: Any, make_repo: Any) -> None:
    api = Client(served)
    httpx.post(f"{served.url}/api/v1/repos", json={"name": "broken"}, headers=api.headers)
    repo = make_repo("pipelines:\n  default:\n    - step:\n        scrpt: [echo]\n")

    pushed = _git(repo, "push", api.remote("broken"), "HEAD:main")

    assert pushed.returncode == 0  # the push itself is kept
    assert "bitbucket-pipelines.yml is invalid" in pushed.stderr
    assert "unknown key 'scrpt'" in pushed.stderr
    assert api.get("/repos/broken/pipelines") == []


def test_a_running_pipeline_is_cancelled_through_the_api(served: Any, make_repo: Any) -> None:
    api = Client(served)
    httpx.post(f"{served.url}/api/v1/repos", json={"name": "long"}, headers=api.headers)
    repo = make_repo(
        "pipelines:\n  default:\n    - step:\n        name: Forever\n"
        "        script: [echo started, sleep 300]\n    - step:\n        name: After\n"
        "        script: [echo never]\n"
    )
    assert _git(repo, "push", api.remote("long"), "HEAD:main").returncode == 0
    deadline = time.monotonic() + 60
    while api.get("/repos/long/pipelines/1")["steps"][0]["status"] != "running":
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)

    viewer_denied = httpx.post(f"{served.url}/api/v1/repos/long/pipelines/1/cancel")
    stopping = httpx.post(f"{served.url}/api/v1/repos/long/pipelines/1/cancel", headers=api.headers)
    pipeline = api.wait("long", 1, {"cancelled", "failed", "passed"})
    again = httpx.post(f"{served.url}/api/v1/repos/long/pipelines/1/cancel", headers=api.headers)

    assert viewer_denied.status_code == 401
    assert stopping.status_code == 202, stopping.text
    assert pipeline["status"] == "cancelled"
    assert [(s["name"], s["status"]) for s in pipeline["steps"]] == [
        ("Forever", "cancelled"),
        ("After", "not run"),
    ]
    assert again.status_code == 409
