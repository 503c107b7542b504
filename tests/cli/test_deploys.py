"""The delivery verbs against a real `shipline serve`: deploy (deployer role), envs,
compare, rollback, deployment variables and dora."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

IDENTITY = ["-c", "user.name=Pusher", "-c", "user.email=pusher@shipline.invalid"]
PIPELINE = """
pipelines:
  branches:
    main:
      - step:
          name: Build
          script: [mkdir -p dist, echo "build of $BITBUCKET_COMMIT" > dist/app.txt]
          artifacts: [dist/**]
      - step:
          name: Staging
          deployment: staging
          script: [cat dist/app.txt, echo "to $TARGET"]
      - step:
          name: Production
          deployment: production
          trigger: manual
          script: [cat dist/app.txt, echo "to $TARGET"]
"""


def _push(repo: Path, served: Any, message: str) -> None:
    subprocess.run(["git", *IDENTITY, "commit", "-q", "--allow-empty", "-m", message], cwd=repo,
                   check=True)  # fmt: skip
    remote = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/shop.git"
    subprocess.run(["git", *IDENTITY, "push", "-q", remote, "HEAD:main"], cwd=repo, check=True,
                   capture_output=True)  # fmt: skip


def test_promote_compare_rollback_and_dora(served: Any, shipline_cli: Any, make_repo: Any) -> None:
    assert shipline_cli("login", served.url, "--token", served.admin_token).returncode == 0
    assert shipline_cli("repo", "create", "shop").returncode == 0
    assert shipline_cli("vars", "set", "shop", "TARGET", "prod-cluster", "--env",
                        "production").returncode == 0  # fmt: skip
    assert "prod-cluster" in shipline_cli("vars", "list", "shop", "--env", "production").stdout
    repo = make_repo(PIPELINE)
    _push(repo, served, "First release [#101 delivers]")
    paused = shipline_cli("logs", "shop#1", "-f")
    assert "shop#1: paused" in paused.stdout, paused.stdout

    deployed = shipline_cli("deploy", "shop#1")
    assert deployed.returncode == 0, deployed.stderr
    assert "deploying: Production of shop#1" in deployed.stdout
    production = shipline_cli("logs", "shop#1", "Production", "-f")
    assert "to prod-cluster" in production.stdout
    assert "shop#1: passed" in production.stdout

    _push(repo, served, "Second release [finishes #102]")
    assert shipline_cli("logs", "shop#2", "-f").returncode == 0
    table = shipline_cli("envs", "shop")
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "#2" in lines["staging"]
    assert "#1" in lines["production"]
    gain = shipline_cli("envs", "shop", "--compare", "staging", "production")
    assert "production would gain 1 commit(s) from staging:" in gain.stdout
    assert "Second release [finishes #102]" in gain.stdout

    rolled = shipline_cli("rollback", "shop", "staging")
    assert rolled.returncode == 0, rolled.stderr
    assert "rolling staging back to" in rolled.stdout
    assert shipline_cli("logs", "shop#3", "-f").returncode == 0
    history = shipline_cli("envs", "shop", "staging")
    assert "rollback" in history.stdout
    headers = {"Authorization": f"Bearer {served.admin_token}"}
    staging = httpx.get(f"{served.url}/api/v1/repos/shop/environments/staging",
                        headers=headers).json()  # fmt: skip
    first = httpx.get(f"{served.url}/api/v1/repos/shop/pipelines/1", headers=headers).json()
    assert staging["current"]["commit"] == first["commit"]

    dora = shipline_cli("dora", "shop")
    assert dora.returncode == 0, dora.stderr
    assert "shop → production" in dora.stdout
    assert "deployments:          1" in dora.stdout
    assert shipline_cli("deploy", "shop#2").returncode == 0  # production gets #2 now
    assert shipline_cli("logs", "shop#2", "Production", "-f").returncode == 0
    again = shipline_cli("deploy", "shop#2")
    assert again.returncode == 1
    assert "shop#2 is passed: no step waits to be deployed" in again.stderr


def test_notify_and_statuses_are_configured_from_the_cli(served: Any, shipline_cli: Any) -> None:
    assert shipline_cli("login", served.url, "--token", served.admin_token).returncode == 0
    assert shipline_cli("repo", "create", "shop").returncode == 0
    added = shipline_cli("notify", "add", "shop", "team chat",
                         "mmost://chat.example.com/abcdefghijklmnopqrstuvwxyz",
                         "--on", "deployment.failed")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "notifying team chat (mmost) of deployment.failed" in added.stdout
    listed = shipline_cli("notify", "list", "shop")
    assert "team chat" in listed.stdout
    assert "abcdefghijklmnopqrstuvwxyz" not in listed.stdout
    bad = shipline_cli("notify", "add", "shop", "oops", "not-a-url")
    assert bad.returncode == 1
    assert "422" in bad.stderr
    api = "https://git.example.com/api/v1"
    status = shipline_cli("statuses", "add", "shop", "--forge", "gitea", "--project", "acme/shop",
                          "--token", "gitea-token-xyz", "--base-url", api)  # fmt: skip
    assert status.returncode == 0, status.stderr
    shown = shipline_cli("statuses", "list", "shop")
    assert "acme/shop" in shown.stdout
    assert "gitea-token-xyz" not in shown.stdout
    assert shipline_cli("statuses", "remove", "shop", "1").returncode == 0
    assert shipline_cli("notify", "remove", "shop", "1").returncode == 0
