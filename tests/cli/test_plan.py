"""`shipline plan`: which pipeline an event runs, why, and its steps; nothing is written."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Cli
    from tests.conftest import MakeRepo

SECRET = "hunter2-do-not-print"
AWS_KEY, AWS_SECRET = "AKIA-DO-NOT-PRINT", "aws-secret-do-not-print"

PIPELINES = f"""\
image:
  name: registry.example.com/team/builder:3
  username: ci-bot
  password: {SECRET}
definitions:
  services:
    redis:
      image: redis:7
pipelines:
  default:
    - step:
        name: Default build
        script:
          - echo default
  branches:
    main:
      - step:
          name: Main build
          services:
            - redis
          script:
            - echo main
      - parallel:
          steps:
            - step:
                name: Unit
                script:
                  - echo unit
            - step:
                name: Integration
                image:
                  name: 123456.dkr.ecr.eu-west-1.amazonaws.com/app:1
                  aws:
                    access-key: {AWS_KEY}
                    secret-key: {AWS_SECRET}
                script:
                  - echo integration
      - step:
          name: Ship
          deployment: production
          trigger: manual
          script:
            - echo ship
    'feature/*':
      - step:
          name: Feature build
          script:
            - echo feature
  tags:
    'v*':
      - step:
          name: Tag build
          script:
            - echo tag
  pull-requests:
    '**':
      - step:
          name: PR checks
          script:
            - echo pr
  custom:
    nightly:
      - variables:
          - name: LEVEL
            default: quick
            allowed-values: [quick, full]
      - step:
          name: Nightly
          script:
            - echo nightly
"""


@pytest.mark.parametrize(
    ("args", "pipeline", "first_step", "why"),
    [
        (["--branch", "main"], "branches.main", "Main build", "branch 'main'"),
        (["--branch", "feature/login"], "branches.feature/*", "Feature build", "feature/*"),
        (["--branch", "hotfix"], "default", "Default build", "'default'"),
        (["--tag", "v1.2"], "tags.v*", "Tag build", "'v1.2'"),
        (["--custom", "nightly"], "custom.nightly", "Nightly", "nightly"),
        (["--pull-request", "feature/x:main"], "pull-requests.**", "PR checks", "feature/x"),
    ],
)
def test_plan_shows_the_chosen_pipeline_and_why(
    make_repo: MakeRepo, cli: Cli, args: list[str], pipeline: str, first_step: str, why: str
) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", *args, cwd=repo)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(f"→ pipeline {pipeline}"), proc.stdout
    assert lines[1].startswith("why: ")
    assert why in lines[1]
    assert f"1. {first_step}" in proc.stdout
    for secret in (SECRET, AWS_KEY, AWS_SECRET):
        assert secret not in proc.stdout + proc.stderr
    assert not (repo / ".shipline").exists(), "plan must not write anything"


def test_plan_without_options_uses_the_current_branch(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES, branch="feature/current")

    proc = cli.run("plan", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert "branch 'feature/current' → pipeline branches.feature/*" in proc.stdout


def test_plan_tree_shows_parallel_groups_and_manual_steps(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", "--branch", "main", cwd=repo)

    out = proc.stdout
    assert "pipeline branches.main" in out
    assert "services redis" in out
    assert "parallel" in out
    assert "2. Unit" in out
    assert "3. Integration" in out
    ship = next(line for line in out.splitlines() if "4. Ship" in line)
    assert "manual" in ship
    assert "deploy: production" in ship


def test_plan_for_an_event_without_a_pipeline(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES.replace("  tags:\n    'v*':", "  tags:\n    'release-*':"))

    proc = cli.run("plan", "--tag", "v1.2", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no pipeline runs: ")
    assert "v1.2" in proc.stdout


def test_plan_unknown_custom_pipeline_exits_2(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", "--custom", "weekly", cwd=repo)

    assert proc.returncode == 2
    assert "no custom pipeline named 'weekly' (available: nightly)" in proc.stderr


def test_plan_of_an_invalid_file_exits_2(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES.replace("          script:\n            - echo main", ""))

    proc = cli.run("plan", "--branch", "main", cwd=repo)

    assert proc.returncode == 2
    assert "bitbucket-pipelines.yml:" in proc.stderr
    assert ": error: a step needs a 'script'" in proc.stderr


def test_two_events_at_once_is_a_usage_error(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", "--tag", "v1", "--branch", "main", cwd=repo)

    assert proc.returncode == 2
    assert "choose one of" in proc.stderr


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(x for v in value.values() for x in _walk(v))]
    if isinstance(value, list):
        return [value, *(x for v in value for x in _walk(v))]
    return [value]


def test_plan_json_is_valid_with_items_and_no_image_password(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", "--branch", "main", "--json", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pipeline"] == "branches.main"
    assert "branch 'main'" in data["reason"]
    assert data["event"]["branch"] == "main"
    kinds = [item["kind"] for item in data["items"]]
    assert kinds == ["StepSpec", "ParallelGroup", "StepSpec"]
    assert data["items"][0]["name"] == "Main build"
    assert [s["name"] for s in data["items"][1]["steps"]] == ["Unit", "Integration"]
    assert data["items"][2]["manual"] is True
    for secret in (SECRET, AWS_KEY, AWS_SECRET):
        assert secret not in proc.stdout
    integration = data["items"][1]["steps"][1]
    assert integration["image"]["aws"] == [["access-key", "********"], ["secret-key", "********"]]
    passwords = [d["password"] for d in _walk(data) if isinstance(d, dict) and "password" in d]
    assert passwords, "the image with credentials should still be described"
    assert set(passwords) <= {"********", None}
    assert "********" in passwords


def test_plan_json_for_no_pipeline(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES.replace("  tags:\n    'v*':", "  tags:\n    'release-*':"))

    proc = cli.run("plan", "--tag", "v1.2", "--json", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pipeline"] is None
    assert data["event"]["tag"] == "v1.2"
    assert "v1.2" in data["reason"]


def test_plan_json_custom_variables(make_repo: MakeRepo, cli: Cli) -> None:
    repo = make_repo(PIPELINES)

    proc = cli.run("plan", "--custom", "nightly", "--var", "LEVEL=full", "--json", cwd=repo)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["pipeline"] == "custom.nightly"
    assert ["LEVEL", "full"] in data["event"]["variables"]
