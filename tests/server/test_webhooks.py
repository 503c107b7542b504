"""Forge webhooks end to end: GitHub, GitLab, Bitbucket Cloud and Gitea deliveries, signed
with the repository's webhook secret, make the server fetch the pushed refs from the
repository's remote (a local bare repository standing in for the forge) into its hosted bare
repository and run the pipeline of each pushed commit on real embedded workers.

Payloads start from the documented samples in tests/server/forges/payloads/, with the real
refs and commit ids of the stand-in forge substituted.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import shipline.server.webhooks as inbox_module
from shipline.server.forges import FORGES, ZERO_SHA, PushedRef
from shipline.server.mirror import fetch_refs
from shipline.store.models import WebhookDelivery

PAYLOADS = Path(__file__).parent / "forges" / "payloads"
FORGE_NAMES = ["github", "gitlab", "bitbucket", "gitea"]
GIT = ["git", "-c", "user.name=Forge User", "-c", "user.email=forge@shipline.invalid",
       "-c", "commit.gpgsign=false"]  # fmt: skip
# Every header a forge authenticates a delivery with (lower-case).
SIGNATURE_HEADERS = {name.lower() for forge in FORGES.values() for name in forge.sign(b"", "s")}

PIPELINE = """
pipelines:
  default:
    - step:
        name: Build
        script:
          - echo "built $BITBUCKET_COMMIT on $BITBUCKET_BRANCH"
  tags:
    'v*':
      - step:
          name: Release
          script:
            - echo "released $BITBUCKET_TAG at $BITBUCKET_COMMIT"
"""

MakeApi = Callable[..., Any]


def _git_ok(cwd: Path, *args: str) -> bool:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False).returncode == 0


# ---- the forge's side: a bare repository fed from a work tree --------------------------------


@dataclass
class Upstream:
    """The repository on the forge: a bare repository (reached by its path) that a developer
    pushes to from a work tree."""

    bare: Path
    work: Path

    def git(self, *args: str) -> str:
        """Run git in the work tree; its output, stripped."""
        return subprocess.run(
            [*GIT, *args], cwd=self.work, check=True, capture_output=True, text=True
        ).stdout.strip()

    def sha(self, rev: str) -> str:
        return self.git("rev-parse", "--verify", rev)

    def has(self, ref: str) -> bool:
        return _git_ok(self.work, "rev-parse", "--verify", "-q", ref)

    def commit(
        self, message: str, branch: str = "main", files: dict[str, str] | None = None
    ) -> str:
        """Commit on `branch` (created from the current commit if new) and push it."""
        exists = self.has(f"refs/heads/{branch}")
        self.git("switch", "-q", *([] if exists else ["-c"]), branch)
        for rel, text in (files or {}).items():
            (self.work / rel).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        self.git("push", "-q", "origin", f"refs/heads/{branch}:refs/heads/{branch}")
        return self.sha("HEAD")

    def tag(self, name: str, message: str) -> tuple[str, str]:
        """Push an annotated tag of the current commit: (tag object id, commit id)."""
        self.git("tag", "-a", name, "-m", message)
        self.git("push", "-q", "origin", f"refs/tags/{name}")
        return self.sha(f"refs/tags/{name}"), self.sha(f"refs/tags/{name}^{{commit}}")

    def delete(self, ref: str) -> str:
        """Delete `ref` on the forge; returns what it pointed at."""
        old = self.sha(ref)
        self.git("push", "-q", "origin", f":{ref}")
        return old


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    """A forge repository whose main branch holds PIPELINE in one commit."""
    bare, work = tmp_path / "forge" / "shop.git", tmp_path / "forge-work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    repo = Upstream(bare, work)
    repo.git("remote", "add", "origin", str(bare))
    repo.commit("initial commit", files={"bitbucket-pipelines.yml": PIPELINE})
    return repo


# ---- deliveries as each forge documents them -------------------------------------------------


def _sample(name: str) -> dict[str, Any]:
    data = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@dataclass
class Delivery:
    """One webhook request: the forge's event and delivery headers and its JSON payload."""

    forge: str
    headers: dict[str, str]
    data: dict[str, Any]

    @property
    def body(self) -> bytes:
        return json.dumps(self.data).encode()

    def signed(self, secret: str, body: bytes | None = None) -> dict[str, str]:
        """The headers with the forge's signature of `body` (default: this payload)."""
        signature = FORGES[self.forge].sign(self.body if body is None else body, secret)
        return {"Content-Type": "application/json", **self.headers, **signature}

    def again(self, **headers: str) -> Delivery:
        """The same delivery sent once more (a redelivery), with `headers` changed."""
        return Delivery(self.forge, {**self.headers, **headers}, self.data)


def _new_id() -> str:
    return str(uuid.uuid4())


def push_delivery(
    forge: str,
    ref: PushedRef,
    *,
    commit: str | None = None,
    clone_url: str | None = None,
    message: str = "change",
) -> Delivery:
    """`forge`'s push payload for `ref`; `commit` is the commit a tag points at (`ref.new` is
    the tag object for an annotated tag), `clone_url` replaces the sample's clone URL."""
    commit = commit or ref.new
    delivery_id = _new_id()
    deleted, tag = ref.new == ZERO_SHA, ref.ref.startswith("refs/tags/")
    if forge == "github":
        data = _sample("github_push")
        data.update(
            ref=ref.ref, before=ref.old, after=ref.new, created=ref.old == ZERO_SHA, deleted=deleted
        )
        head = {**data["head_commit"], "id": commit, "message": message}
        data["head_commit"] = None if deleted else head
        data["commits"] = [] if deleted or tag else [head]
        if clone_url:
            data["repository"]["clone_url"] = clone_url
        return Delivery(forge, {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery_id}, data)
    if forge == "gitlab":
        data = _sample("gitlab_tag_push" if tag else "gitlab_push")
        data.update(
            ref=ref.ref, before=ref.old, after=ref.new, checkout_sha=None if deleted else commit
        )
        data["commits"] = (
            []
            if deleted or tag
            else [{**data["commits"][0], "id": commit, "message": message, "title": message}]
        )
        data["total_commits_count"] = len(data["commits"])
        if clone_url:
            data["project"]["git_http_url"] = data["repository"]["git_http_url"] = clone_url
        event = "Tag Push Hook" if tag else "Push Hook"
        return Delivery(forge, {"X-Gitlab-Event": event, "Idempotency-Key": delivery_id}, data)
    if forge == "bitbucket":
        assert clone_url is None, "Bitbucket payloads carry no clone URL"
        data = _sample("bitbucket_push")
        template = data["push"]["changes"][0]
        kind, name = (
            ("tag", ref.ref.removeprefix("refs/tags/"))
            if tag
            else ("branch", ref.ref.removeprefix("refs/heads/"))
        )

        def state(sha: str) -> dict[str, Any] | None:
            if sha == ZERO_SHA:
                return None
            target = {**template["new"]["target"], "hash": sha, "message": message}
            return {**template["new"], "type": kind, "name": name, "target": target}

        change = {
            **template,
            "old": state(ref.old),
            "new": state(ZERO_SHA if deleted else commit),
            "created": ref.old == ZERO_SHA,
            "closed": deleted,
            "commits": [] if deleted else [{"type": "commit", "hash": commit}],
        }
        data["push"]["changes"] = [change]
        headers = {
            "X-Event-Key": "repo:push",
            "X-Request-UUID": delivery_id,
            "X-Hook-UUID": "8cf0bbde-6beb-4a41-a1b1-2ff4ed4aa5c4",
            "X-Attempt-Number": "1",
        }
        return Delivery(forge, headers, data)
    assert forge == "gitea"
    data = _sample("gitea_push")
    data.update(ref=ref.ref, before=ref.old, after=ref.new)
    pushed_commit = {**data["commits"][0], "id": commit, "message": message}
    data["commits"] = [] if deleted or tag else [pushed_commit]
    if clone_url:
        data["repository"]["clone_url"] = clone_url
    return Delivery(forge, {"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery_id}, data)


def pings(forge: str, upstream: Upstream) -> list[Delivery]:
    """The deliveries `forge` sends to show that a webhook works (GitLab has none: its "Test"
    button sends an ordinary push)."""
    if forge == "github":
        return [
            Delivery(
                forge,
                {"X-GitHub-Event": "ping", "X-GitHub-Delivery": _new_id()},
                _sample("github_ping"),
            )
        ]
    if forge == "bitbucket":  # Bitbucket Data Center's "Test connection"
        headers = {"X-Event-Key": "diagnostics:ping", "X-Request-UUID": _new_id()}
        return [Delivery(forge, headers, {"test": True})]
    if forge == "gitea":  # "Test Delivery": a push whose before is its after
        head = upstream.sha("HEAD")
        return [
            push_delivery(forge, PushedRef("refs/heads/main", sha, sha)) for sha in (head, ZERO_SHA)
        ]
    return []


def non_push_events(forge: str) -> list[Delivery]:
    """Events a webhook may be subscribed to that start nothing (issues, pull requests)."""
    if forge == "github":
        return [
            Delivery(
                forge,
                {"X-GitHub-Event": "issues", "X-GitHub-Delivery": _new_id()},
                _sample("github_issues"),
            )
        ]
    if forge == "gitlab":
        return [
            Delivery(
                forge,
                {"X-Gitlab-Event": "Issue Hook", "Idempotency-Key": _new_id()},
                _sample("gitlab_issue"),
            )
        ]
    if forge == "bitbucket":
        issue = {
            "actor": {"display_name": "Tomasz"},
            "issue": {"id": 1, "title": "Broken"},
            "repository": {"full_name": "kolaszek/repository-name"},
        }
        return [
            Delivery(forge, {"X-Event-Key": "issue:created", "X-Request-UUID": _new_id()}, issue),
            Delivery(
                forge,
                {"X-Event-Key": "pullrequest:created", "X-Request-UUID": _new_id()},
                _sample("bitbucket_pullrequest_created"),
            ),
        ]
    assert forge == "gitea"
    issue = {
        "action": "opened",
        "number": 1,
        "issue": {"id": 1, "title": "Broken"},
        "repository": {"full_name": "gitea/webhooks"},
    }
    return [Delivery(forge, {"X-Gitea-Event": "issues", "X-Gitea-Delivery": _new_id()}, issue)]


# ---- the Shipline side -----------------------------------------------------------------------


@dataclass
class Mirror:
    """A Shipline repository that mirrors `upstream`, and what the server recorded for it."""

    api: Any
    upstream: Upstream
    name: str
    secret: str

    @property
    def hosted(self) -> Path:
        return self.api.state.repo_dir(self.name)  # type: ignore[no-any-return]

    def deliver(
        self,
        delivery: Delivery,
        *,
        secret: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        repo: str | None = None,
    ) -> httpx.Response:
        """POST `delivery` signed with `secret` (default: the repository's); `body` is sent
        instead of the payload it was signed for, `headers` instead of the signed ones."""
        sent = delivery.signed(self.secret if secret is None else secret)
        return self.api.client.post(  # type: ignore[no-any-return]
            f"/hooks/{delivery.forge}/{repo or self.name}",
            content=delivery.body if body is None else body,
            headers=sent if headers is None else headers,
        )

    def drained(self) -> Mirror:
        """Wait until the server has handled every delivery it accepted."""
        assert self.api.state.webhooks is not None
        self.api.state.webhooks.drain()
        return self

    def pipelines(self) -> list[dict[str, Any]]:
        """Oldest first."""
        return list(reversed(self.api.get(f"/repos/{self.name}/pipelines")))

    def deliveries(self) -> list[tuple[str, str, str]]:
        """(forge, delivery id, outcome) of every recorded delivery, oldest first."""
        with self.api.state.db.session() as session:
            rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
            return [(row.forge, row.delivery_id, row.outcome) for row in rows]

    def outcome(self) -> str:
        (only,) = self.deliveries()
        return only[2]

    def has_commit(self, sha: str) -> bool:
        return _git_ok(self.hosted, "cat-file", "-e", f"{sha}^{{commit}}")

    def refs(self) -> dict[str, str]:
        """The hosted repository's refs: {name: object id}."""
        out = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
            cwd=self.hosted,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines())

    def wait(self, number: int, seconds: float = 60) -> dict[str, Any]:
        """The pipeline once it has finished."""
        deadline = time.monotonic() + seconds
        while True:
            pipeline: dict[str, Any] = self.api.get(f"/repos/{self.name}/pipelines/{number}")
            if pipeline["status"] in {"passed", "failed", "cancelled"}:
                return pipeline
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}#{number} never finished: {pipeline}")
            time.sleep(0.05)

    def log(self, pipeline: dict[str, Any]) -> str:
        (step,) = pipeline["steps"]
        path = f"/repos/{self.name}/pipelines/{pipeline['number']}/steps/{step['key']}/log"
        return self.api.get(path)  # type: ignore[no-any-return]

    def set_remote_url(self, url: str | None) -> None:
        response = self.api.client.patch(
            f"/api/v1/repos/{self.name}", json={"remote_url": url}, headers=self.api.headers()
        )
        assert response.status_code == 200, response.text
        assert response.json()["remote_url"] == url

    def assert_nothing_recorded(self, *commits: str) -> None:
        assert self.pipelines() == []
        assert self.deliveries() == []
        for sha in commits:
            assert not self.has_commit(sha), f"{sha} was fetched"


MakeMirror = Callable[..., Mirror]


@pytest.fixture
def make_mirror(make_api: MakeApi, upstream: Upstream) -> MakeMirror:
    """make_mirror(workers=0, remote=True) → a Shipline repository mirroring `upstream`
    (remote_url: its path; remote=False: none); workers=0 records pipelines but runs none."""

    def build(workers: int = 0, remote: bool = True) -> Mirror:
        api = make_api(workers=workers)
        body = {"name": "shop", "remote_url": str(upstream.bare) if remote else None}
        response = api.post("/repos", body)
        assert response.status_code == 201, response.text
        return Mirror(api, upstream, "shop", response.json()["webhook_secret"])

    return build


def push_of(upstream: Upstream, message: str, branch: str = "main") -> tuple[PushedRef, str]:
    """Commit and push on the forge: (the pushed ref as a webhook names it, the new commit)."""
    ref = f"refs/heads/{branch}"
    before = upstream.sha(ref) if upstream.has(ref) else ZERO_SHA
    after = upstream.commit(message, branch)
    return PushedRef(ref, before, after), after


forges = pytest.mark.parametrize("forge", FORGE_NAMES)


# ---- a signed push runs the pushed commit, unless it says [skip ci] --------------------------


@forges
def test_a_signed_push_runs_the_pushed_commit_and_a_skip_ci_push_runs_nothing(
    forge: str, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror(workers=1)
    pushed, sha = push_of(mirror.upstream, "add the feature")
    # The samples' clone URLs (github.com, example.com…) are not fetched: remote_url wins.
    response = mirror.deliver(push_delivery(forge, pushed, message="add the feature"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["refs"] == ["refs/heads/main"]

    (pipeline,) = mirror.drained().pipelines()
    assert pipeline["trigger"] == "webhook"
    assert pipeline["triggered_by"] == f"{FORGES[forge].title} webhook"
    assert pipeline["commit"] == sha
    assert (pipeline["ref_type"], pipeline["ref_name"]) == ("branch", "main")
    assert pipeline["pipeline"] == "default"
    assert mirror.refs()["refs/heads/main"] == sha
    assert mirror.outcome().startswith("pipeline #1 (default) for main: ")

    done = mirror.wait(pipeline["number"])
    assert done["status"] == "passed", done
    assert f"built {sha} on main" in mirror.log(done)

    # A commit that says [skip ci] is fetched, and its delivery says why nothing runs.
    pushed, skipped = push_of(mirror.upstream, "docs only [skip ci]")
    response = mirror.deliver(push_delivery(forge, pushed, message="docs only [skip ci]"))
    assert response.status_code == 202, response.text
    assert len(mirror.drained().pipelines()) == 1
    assert mirror.refs()["refs/heads/main"] == skipped
    assert mirror.deliveries()[-1][2] == (
        "main: no pipeline runs (the commit message contains [skip ci] or [ci skip])"
    )


# ---- what the secret does not authenticate leaves no trace -----------------------------------


@forges
def test_a_delivery_that_fails_the_secret_check_is_401_and_records_nothing(
    forge: str, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror()
    old_secret = mirror.secret
    renewed = mirror.api.post(f"/repos/{mirror.name}/webhook-secret")
    assert renewed.status_code == 200, renewed.text
    mirror.secret = renewed.json()["webhook_secret"]
    assert mirror.secret not in {None, "", old_secret}

    pushed, sha = push_of(mirror.upstream, "unauthenticated")
    delivery = push_delivery(forge, pushed)
    signed = delivery.signed(mirror.secret)
    unsigned = {k: v for k, v in signed.items() if k.lower() not in SIGNATURE_HEADERS}
    assert len(unsigned) < len(signed)
    blank = dict.fromkeys(FORGES[forge].sign(delivery.body, mirror.secret), "")
    attempts = {
        "wrong secret": mirror.deliver(delivery, secret=mirror.secret + "x"),
        "the secret before renewal": mirror.deliver(delivery, secret=old_secret),
        "no signature header": mirror.deliver(delivery, headers=unsigned),
        "empty signature header": mirror.deliver(delivery, headers={**unsigned, **blank}),
    }
    if forge != "gitlab":  # GitLab sends the token itself: it signs no body to tamper with
        tampered = json.dumps({**delivery.data, "tampered": True}).encode()
        attempts["tampered body"] = mirror.deliver(delivery, body=tampered)
    for what, response in attempts.items():
        assert response.status_code == 401, (what, response.text)
        assert "signature does not match" in response.json()["detail"], what
    mirror.drained().assert_nothing_recorded(sha)

    assert mirror.deliver(delivery).status_code == 202  # the renewed secret is the one
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]


# ---- the answer comes at once; redeliveries start nothing ------------------------------------


@pytest.fixture
def gated_fetch(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Fetches in the webhook inbox wait until the returned event is set."""
    gate = threading.Event()

    def fetch_when_released(repo_dir: Path, remote_url: str, refs: Sequence[PushedRef]) -> None:
        assert gate.wait(30), "the test never released the fetch"
        fetch_refs(repo_dir, remote_url, refs)

    monkeypatch.setattr(inbox_module, "fetch_refs", fetch_when_released)
    yield gate
    gate.set()  # never leave the inbox thread waiting


@forges
def test_the_answer_comes_before_the_fetch_and_a_redelivery_starts_nothing(
    forge: str, make_mirror: MakeMirror, gated_fetch: threading.Event
) -> None:
    mirror = make_mirror()
    pushed, sha = push_of(mirror.upstream, "once")
    delivery = push_delivery(forge, pushed)
    started = time.perf_counter()
    response = mirror.deliver(delivery)
    took = time.perf_counter() - started
    assert response.status_code == 202, response.text
    # The fetch is held back, so answering at all proves it did not wait for it; the bound
    # is the forges' own (GitHub gives up after 10 s), loose enough for a busy CI machine.
    assert took < 5, f"the forge waited {took:.2f} s for its answer"
    # The fetch has not happened yet: nothing fetched or recorded but the delivery id.
    assert not mirror.has_commit(sha)
    assert mirror.pipelines() == []
    assert mirror.deliveries() == [(forge, response.json()["delivery"], "")]

    # Bitbucket counts its attempts at one request; the others resend it unchanged.
    again = delivery.again(**{"X-Attempt-Number": "2"} if forge == "bitbucket" else {})
    while_fetching = mirror.deliver(again)
    gated_fetch.set()
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    later = mirror.deliver(again)
    for response in (while_fetching, later):
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "duplicate"
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    ((recorded_forge, delivery_id, outcome),) = mirror.deliveries()
    assert recorded_forge == forge
    assert delivery_id in delivery.headers.values()
    assert outcome.startswith("pipeline #1 (default) for main: ")


def test_the_same_github_delivery_id_for_another_repository_is_not_a_duplicate(
    make_mirror: MakeMirror,
) -> None:
    # GitHub gives every webhook subscribed to one event the same X-GitHub-Delivery GUID.
    mirror = make_mirror()
    body = {"name": "shop-copy", "remote_url": str(mirror.upstream.bare)}
    response = mirror.api.post("/repos", body)
    assert response.status_code == 201, response.text
    copy = Mirror(mirror.api, mirror.upstream, "shop-copy", response.json()["webhook_secret"])
    pushed, sha = push_of(mirror.upstream, "fan out")
    delivery = push_delivery("github", pushed)
    assert mirror.deliver(delivery).status_code == 202
    assert copy.deliver(delivery).status_code == 202
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    assert [p["commit"] for p in copy.pipelines()] == [sha]


def test_gitlab_without_an_idempotency_key_handles_every_delivery(
    make_mirror: MakeMirror,
) -> None:
    # GitLab before 17.4 sends no Idempotency-Key, and no other header survives a retry
    # (forges/gitlab.py): each delivery is handled, none is recorded as a delivery.
    mirror = make_mirror()
    pushed, sha = push_of(mirror.upstream, "retried")
    delivery = push_delivery("gitlab", pushed)
    del delivery.headers["Idempotency-Key"]
    for _ in range(2):
        response = mirror.deliver(delivery)
        assert response.status_code == 202, response.text
        assert response.json()["delivery"] is None
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha, sha]
    assert mirror.deliveries() == []


# ---- tags and deletions ----------------------------------------------------------------------


@forges
def test_an_annotated_tag_push_starts_the_tags_pipeline_on_the_tagged_commit(
    forge: str, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror()
    tag_object, sha = mirror.upstream.tag("v1.0", "release 1.0")
    # GitHub and Gitea name the tag object as `after`; GitLab adds checkout_sha (the commit),
    # Bitbucket names only the commit.
    tag = PushedRef("refs/tags/v1.0", ZERO_SHA, tag_object)
    response = mirror.deliver(push_delivery(forge, tag, commit=sha))
    assert response.status_code == 202, response.text
    assert response.json()["refs"] == ["refs/tags/v1.0"]

    (pipeline,) = mirror.drained().pipelines()
    assert (pipeline["ref_type"], pipeline["ref_name"]) == ("tag", "v1.0")
    assert pipeline["pipeline"] == "tags.v*"
    assert pipeline["commit"] == sha  # what BITBUCKET_COMMIT will say
    assert [s["name"] for s in pipeline["steps"]] == ["Release"]
    assert mirror.refs()["refs/tags/v1.0"] == tag_object  # the mirror holds the tag itself


@pytest.mark.parametrize("forge", ["github", "gitlab", "bitbucket"])
def test_a_branch_deletion_starts_nothing_and_deletes_the_mirrored_branch(
    forge: str, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror()
    pushed, sha = push_of(mirror.upstream, "feature work", branch="feature/login")
    assert mirror.deliver(push_delivery(forge, pushed)).status_code == 202
    assert mirror.drained().refs()["refs/heads/feature/login"] == sha
    assert len(mirror.pipelines()) == 1

    old = mirror.upstream.delete("refs/heads/feature/login")
    deletion = push_delivery(forge, PushedRef("refs/heads/feature/login", old, ZERO_SHA))
    response = mirror.deliver(deletion)
    assert response.status_code == 202, response.text
    assert "refs/heads/feature/login" not in mirror.drained().refs()
    assert len(mirror.pipelines()) == 1
    assert mirror.deliveries()[-1][2] == "refs/heads/feature/login: deleted, nothing to run"


def gitea_delete_event(ref: str, ref_type: str) -> Delivery:
    data = {**_sample("gitea_delete"), "ref": ref, "ref_type": ref_type}
    return Delivery("gitea", {"X-Gitea-Event": "delete", "X-Gitea-Delivery": _new_id()}, data)


def test_a_gitea_tag_deletion_deletes_the_mirrored_tag(make_mirror: MakeMirror) -> None:
    # Gitea reports a deleted tag as a push whose `after` is zeros, and a `delete` event.
    mirror = make_mirror()
    tag_object, _ = mirror.upstream.tag("v1.0", "release 1.0")
    creation = push_delivery("gitea", PushedRef("refs/tags/v1.0", ZERO_SHA, tag_object))
    assert mirror.deliver(creation).status_code == 202
    assert mirror.drained().refs()["refs/tags/v1.0"] == tag_object

    mirror.upstream.delete("refs/tags/v1.0")
    deletion = push_delivery("gitea", PushedRef("refs/tags/v1.0", tag_object, ZERO_SHA))
    assert mirror.deliver(deletion).status_code == 202
    response = mirror.deliver(gitea_delete_event("v1.0", "tag"))  # Gitea sends both
    assert response.status_code == 202, response.text
    assert "refs/tags/v1.0" not in mirror.drained().refs()
    assert len(mirror.pipelines()) == 1
    assert mirror.deliveries()[-1][2] == "refs/tags/v1.0: deleted, nothing to run"


def test_a_gitea_branch_deletion_deletes_the_mirrored_branch(make_mirror: MakeMirror) -> None:
    mirror = make_mirror()
    pushed, sha = push_of(mirror.upstream, "feature work", branch="feature/login")
    assert mirror.deliver(push_delivery("gitea", pushed)).status_code == 202
    assert mirror.drained().refs()["refs/heads/feature/login"] == sha

    mirror.upstream.delete("refs/heads/feature/login")
    assert mirror.deliver(gitea_delete_event("feature/login", "branch")).status_code < 300
    assert len(mirror.drained().pipelines()) == 1
    assert "refs/heads/feature/login" not in mirror.refs()


# ---- deliveries that name nothing to fetch ---------------------------------------------------


@forges
def test_pings_other_events_and_malformed_deliveries_start_nothing_and_record_nothing(
    forge: str, make_mirror: MakeMirror
) -> None:
    # GitLab has no ping: its "Test" button sends an ordinary push, which runs like one.
    mirror = make_mirror()
    answers = [("ping", d) for d in pings(forge, mirror.upstream)]
    answers += [("ignored", d) for d in non_push_events(forge)]
    for status, delivery in answers:
        response = mirror.deliver(delivery)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status, response.json()
        assert response.json()["note"]

    pushed, sha = push_of(mirror.upstream, "malformed")
    delivery = push_delivery(forge, pushed)
    without_commit = {k: v for k, v in delivery.data.items() if k not in {"after", "push"}}
    malformed = [
        (b'{"ref": "refs/heads/main", ', "is not JSON"),
        (b'["refs/heads/main"]', "is JSON but not an object (it is a list)"),
        (json.dumps(without_commit).encode(), "is missing"),
    ]
    for body, message in malformed:  # signed as they are: only their content is wrong
        response = mirror.deliver(delivery, body=body, headers=delivery.signed(mirror.secret, body))
        assert response.status_code == 400, (body, response.text)
        assert message in response.json()["detail"], response.json()

    mirror.drained().assert_nothing_recorded(sha)
    assert mirror.refs() == {}


def test_an_unknown_forge_or_repository_is_404(make_mirror: MakeMirror) -> None:
    mirror = make_mirror()
    pushed, sha = push_of(mirror.upstream, "nowhere")
    response = mirror.api.client.post(
        "/hooks/sourcehut/shop", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "no forge 'sourcehut'; one of: bitbucket, gitea, github, gitlab"
    )
    for forge in FORGE_NAMES:
        response = mirror.deliver(push_delivery(forge, pushed), repo="no-such-repo")
        assert response.status_code == 404, (forge, response.text)
        assert response.json()["detail"] == "no repository 'no-such-repo'"
    mirror.drained().assert_nothing_recorded(sha)


# ---- where the commits are fetched from ------------------------------------------------------


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_without_remote_url_the_clone_url_of_the_payload_is_fetched(
    forge: str, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror(remote=False)
    pushed, sha = push_of(mirror.upstream, "from the clone URL")
    delivery = push_delivery(forge, pushed, clone_url=mirror.upstream.bare.as_uri())
    assert mirror.deliver(delivery).status_code == 202
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    assert mirror.has_commit(sha)


def test_bitbucket_without_remote_url_records_that_there_is_nothing_to_fetch_from(
    make_mirror: MakeMirror,
) -> None:
    mirror = make_mirror(remote=False)
    pushed, sha = push_of(mirror.upstream, "Bitbucket payloads carry no clone URL")
    delivery = push_delivery("bitbucket", pushed)
    assert mirror.deliver(delivery).status_code == 202
    mirror.drained()
    assert mirror.pipelines() == []
    assert not mirror.has_commit(sha)
    assert mirror.outcome() == "no remote URL to fetch from: set the repository's remote_url"

    # Once remote_url is set, Bitbucket's "Resend request" of that delivery is handled.
    mirror.set_remote_url(str(mirror.upstream.bare))
    resent = delivery.again(**{"X-Attempt-Number": "2"})
    response = mirror.deliver(resent)
    assert response.status_code == 202, response.text
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    assert mirror.outcome().startswith("pipeline #1 (default) for main: ")
    assert mirror.deliver(resent).json()["status"] == "duplicate"  # handled now: once is enough


def test_a_fetch_that_fails_records_why_and_a_redelivery_tries_again(
    make_mirror: MakeMirror,
) -> None:
    mirror = make_mirror()
    gone = mirror.upstream.bare.parent / "moved.git"
    mirror.set_remote_url(str(gone))
    pushed, sha = push_of(mirror.upstream, "unreachable")
    delivery = push_delivery("github", pushed)
    assert mirror.deliver(delivery).status_code == 202
    mirror.drained()
    assert mirror.pipelines() == []
    assert not mirror.has_commit(sha)
    assert mirror.outcome().startswith(f"fetching from {gone} failed: ")

    mirror.set_remote_url(mirror.upstream.bare.as_uri())
    assert mirror.deliver(delivery).status_code == 202  # GitHub's "Redeliver": the same GUID
    assert [p["commit"] for p in mirror.drained().pipelines()] == [sha]
    assert len(mirror.deliveries()) == 1
