"""Client verbs against a real `shipline serve`: login, repo create/list, pipelines, logs."""

from __future__ import annotations

import os
import subprocess
import sys
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
        script: [echo "compiled the shop"]
    - step:
        name: Test
        script: [echo "tests are green"]
"""


def test_login_repo_pipelines_and_logs(
    served: Any, shipline_cli: Any, make_repo: Any, tmp_path: Path
) -> None:
    not_yet = shipline_cli("repo", "list")
    assert not_yet.returncode == 1
    assert "not logged in" in not_yet.stderr

    login = shipline_cli("login", served.url, "--token", served.admin_token)
    assert login.returncode == 0, login.stderr
    assert "as admin (admin)" in login.stdout
    config = tmp_path / "config" / "shipline" / "client.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600"  # it holds a token

    created = shipline_cli("repo", "create", "shop")
    assert created.returncode == 0, created.stderr
    assert f"{served.url}/git/shop.git" in created.stdout
    assert "shop" in shipline_cli("repo", "list").stdout

    repo = make_repo(PIPELINE)
    remote = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/shop.git"
    subprocess.run(
        ["git", *IDENTITY, "push", remote, "HEAD:main"], cwd=repo, check=True, capture_output=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = httpx.get(
            f"{served.url}/api/v1/repos/shop/pipelines/1",
            headers={"Authorization": f"Bearer {served.admin_token}"},
        ).json()
        if state["status"] == "passed":
            break
        time.sleep(0.1)

    listed = shipline_cli("pipelines", "shop")
    assert listed.returncode == 0, listed.stderr
    assert "passed" in listed.stdout
    assert "Build:passed Test:passed" in listed.stdout

    both = shipline_cli("logs", "shop#1")
    assert "=== 1. Build (passed)" in both.stdout
    assert "compiled the shop" in both.stdout
    assert "tests are green" in both.stdout
    one = shipline_cli("logs", "shop#1", "Test")
    assert "tests are green" in one.stdout
    assert "compiled the shop" not in one.stdout
    missing = shipline_cli("logs", "shop#9")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    finished = shipline_cli("cancel", "shop#1")
    assert finished.returncode == 1
    assert "409: shop#1 has already finished (passed)" in finished.stderr


RELEASE = """
pipelines:
  branches:
    main:
      - step:
          name: Test
          script:
            - echo "testing with $API_KEY in $REGION"
            - test "$GREEN" = yes
      - step:
          name: Production
          trigger: manual
          deployment: production
          script: [echo "released build $BITBUCKET_BUILD_NUMBER"]
  custom:
    hotfix:
      - variables:
          - name: TICKET
      - step:
          name: Patch
          script: [echo "patching $TICKET"]
"""


def test_vars_trigger_follow_rerun_run_step_and_custom(
    served: Any, shipline_cli: Any, make_repo: Any
) -> None:
    assert shipline_cli("login", served.url, "--token", served.admin_token).returncode == 0
    assert shipline_cli("repo", "create", "shop").returncode == 0
    secret = "s3cr3t-api-key-0451"
    set_secret = subprocess.run(
        [str(Path(sys.executable).with_name("shipline")), "vars", "set", "shop", "API_KEY", "-",
         "--secured"],
        input=secret + "\n", capture_output=True, text=True, check=False,
        env={**os.environ, "XDG_CONFIG_HOME": str(Path(served.data_dir).parent / "config"),
             "SHIPLINE_SERVER": served.url, "SHIPLINE_TOKEN": served.admin_token},
    )  # fmt: skip
    assert set_secret.returncode == 0, set_secret.stderr
    assert "set secured variable API_KEY" in set_secret.stdout
    assert shipline_cli("vars", "set", "shop", "REGION", "eu-west").returncode == 0
    listed = shipline_cli("vars", "list", "shop")
    assert "eu-west" in listed.stdout
    assert secret not in listed.stdout

    repo = make_repo(RELEASE)
    remote = f"http://x:{served.admin_token}@{served.url.removeprefix('http://')}/git/shop.git"
    subprocess.run(
        ["git", *IDENTITY, "push", remote, "HEAD:main"], cwd=repo, check=True, capture_output=True
    )
    followed = shipline_cli("logs", "shop#1", "-f")
    assert followed.returncode == 1, followed.stdout  # GREEN is not set: Test fails
    assert "testing with $API_KEY in eu-west" in followed.stdout
    assert secret not in followed.stdout
    assert "shop#1: failed" in followed.stdout

    assert shipline_cli("vars", "set", "shop", "GREEN", "yes").returncode == 0
    rerun = shipline_cli("rerun", "shop#1")
    assert rerun.returncode == 0, rerun.stderr
    paused = shipline_cli("logs", "shop#1", "-f")
    assert paused.returncode == 0, paused.stdout
    assert "--- Production: paused — waiting for a manual trigger" in paused.stdout
    assert "shop#1: paused" in paused.stdout

    released = shipline_cli("run-step", "shop#1", "Production")
    assert released.returncode == 0, released.stderr
    production = shipline_cli("logs", "shop#1", "Production", "-f")
    assert production.returncode == 0, production.stdout
    assert "released build 1" in production.stdout
    assert "shop#1: passed" in production.stdout

    custom = shipline_cli("trigger", "shop", "--custom", "hotfix", "--var", "TICKET=OPS-7")
    assert custom.returncode == 0, custom.stderr
    assert "shop#2 (custom.hotfix) for main" in custom.stdout
    patched = shipline_cli("logs", "shop#2", "-f")
    assert "patching OPS-7" in patched.stdout
    assert patched.returncode == 0
    tail = shipline_cli("logs", "shop#2", "Patch", "--tail", "1")
    assert tail.stdout == "patching OPS-7\n"
    history = shipline_cli("pipelines", "shop")
    assert "custom" in history.stdout
