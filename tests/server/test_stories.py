"""Stories shipped: Pivotal Tracker and Jira references, commit ranges, the webhook payload."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipline.errors import GitError, ShiplineError
from shipline.server.stories import (
    StoryCommit,
    StoryRef,
    delivered_stories,
    find_stories,
    stories_between,
    tracker_payload,
)


def pivotal(story: str, action: str | None = None) -> StoryRef:
    return StoryRef("pivotal", story, action)


def jira(key: str) -> StoryRef:
    return StoryRef("jira", key, None)


# --- find_stories --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Add login [#13378337]", (pivotal("13378337"),)),
        ("Add login [#13378337 delivers]", (pivotal("13378337", "delivers"),)),
        ("[finishes #123] tidy", (pivotal("123", "finishes"),)),
        ("[Fixes #123]", (pivotal("123", "fixes"),)),
        ("[Completes #123]", (pivotal("123", "completes"),)),
        ("[#123, #456 delivers]", (pivotal("123", "delivers"), pivotal("456", "delivers"))),
        ("[finishes #123 #456]", (pivotal("123", "finishes"), pivotal("456", "finishes"))),
        # Tracker's documented example: two stories, the action before them.
        (
            "finally [finished #12345678 #12345779], fixes client/server integration glitch",
            (pivotal("12345678", "finishes"), pivotal("12345779", "finishes")),
        ),
        ("[#1 FIXED]", (pivotal("1", "fixes"),)),
        ("[#1 fix]", (pivotal("1", "fixes"),)),
        ("[#1 Completed]", (pivotal("1", "completes"),)),
        ("[#1 complete]", (pivotal("1", "completes"),)),
        ("[#1 FINISH]", (pivotal("1", "finishes"),)),
        ("[#1 Delivered]", (pivotal("1", "delivers"),)),
        ("[#1 DeLiVeRs]", (pivotal("1", "delivers"),)),
        ("[delivers #1 finishes]", (pivotal("1", "delivers"),)),  # the first word wins
        ("[#1 unfixed prefixes]", (pivotal("1"),)),  # words, not parts of words
        ("[#007]", (pivotal("7"),)),  # the same story as #7
        ("first [#1] then [#2 finishes]", (pivotal("1"), pivotal("2", "finishes"))),
        ("[#1] and later [#1 delivers]", (pivotal("1", "delivers"),)),  # first place, an action
        ("[#1 delivers] and later [#1 finishes]", (pivotal("1", "delivers"),)),
        ("PROJ-123 Add login", (jira("PROJ-123"),)),
        ("Fixes PROJ-12, AB-3 and X_2-9.", (jira("PROJ-12"), jira("AB-3"), jira("X_2-9"))),
        ("see https://acme.atlassian.net/browse/OPS-42", (jira("OPS-42"),)),
        ("Merge branch 'feature/WEB-77-login' into main", (jira("WEB-77"),)),
        ("(B2B-5) and [CORE-8]", (jira("B2B-5"), jira("CORE-8"))),
        (
            "WEB-1 [#100 delivers] fixes WEB-2",
            (jira("WEB-1"), pivotal("100", "delivers"), jira("WEB-2")),
        ),
        ("WEB-1 again WEB-1", (jira("WEB-1"),)),
        ("body on a later line\n\n[#5 finishes]\nOPS-1", (pivotal("5", "finishes"), jira("OPS-1"))),
    ],
)
def test_references_are_found(message: str, expected: tuple[StoryRef, ...]) -> None:
    assert find_stories(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        "",
        "Refactor the parser",
        "Fix #123 the GitHub way",  # no brackets: not Tracker's syntax
        "[#]",
        "[# 123]",
        "[#12a]",
        "[#0]",
        "[fixes]",
        "[WIP] work",
        "[#12",
        "Decode UTF-8 and UTF-16 input",
        "Hash with SHA-256, SHA-1 and AES-256",
        "Dates in ISO-8601 per RFC-3339, see CVE-2024-3094 and CWE-79",
        "Build for x86-64 and X86-64",
        "Style per PEP-8, license GPL-3 / LGPL-2 / AGPL-3",
        "utf-8 lowercase proj-1",
        "A-1 has a one-letter key",
        "PROJ-0 and PROJ-012 are not issue numbers",
        "TICKET-12-3 and GPL-3.0 and PROJ-1a and PROJ-1_x",
        "fooPROJ-1 and X-PROJ-2 and 9PROJ-3",
        "PROJ- 12 and PROJ_12 and -12",
    ],
)
def test_text_without_stories(message: str) -> None:
    assert find_stories(message) == ()


@settings(max_examples=300, deadline=None)
@given(
    st.text()
    | st.lists(
        st.sampled_from(
            ["[", "]", "#", "#1", "#12", "-", "PROJ", "AB", "-1", "-12", " ", ",", "delivers",
             "FIXES", "UTF", "0", "9", ".", "_", "\n", "é", "\u0661"]
        )
    ).map("".join)
)  # fmt: skip
def test_find_stories_never_raises_and_refs_are_unique(message: str) -> None:
    refs = find_stories(message)
    keys = [(ref.tracker, ref.id) for ref in refs]
    assert len(keys) == len(set(keys))
    for ref in refs:
        assert ref.tracker in ("pivotal", "jira")
        assert ref.action in (None, "delivers", "finishes", "fixes", "completes")
        assert ref.id in message
        if ref.tracker == "jira":
            assert ref.action is None
        else:
            assert ref.id.isascii()
            assert ref.id.isdigit()
    assert find_stories(message) == refs  # deterministic


# --- stories_between on a real repository --------------------------------------------------


class Repo:
    """A throwaway repository whose commits get increasing, distinct dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_700_000_000
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        self.clock += 60
        date = f"@{self.clock} +0000"
        env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        identity = [
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ]
        proc = subprocess.run(
            ["git", *identity, *args], cwd=self.path, env=env, capture_output=True, check=True
        )
        return proc.stdout.decode().strip()

    def commit(self, message: str) -> str:
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_commits_between_two_deployments_newest_first(repo: Repo) -> None:
    base = repo.commit("Initial [#1 delivers]")
    second = repo.commit("Add login [#2 finishes]\n\nLonger body, also WEB-7.")
    repo.commit("Tidy the README")
    fourth = repo.commit("Fix crash WEB-8\n\n[fixes #3]")
    commits = stories_between(repo.path, base, fourth)
    assert commits == (
        StoryCommit(fourth, "Fix crash WEB-8", (jira("WEB-8"), pivotal("3", "fixes"))),
        StoryCommit(second, "Add login [#2 finishes]", (pivotal("2", "finishes"), jira("WEB-7"))),
    )
    assert stories_between(repo.path, fourth, fourth) == ()
    assert stories_between(repo.path, second, "main")[0].sha == fourth  # names work too


def test_without_an_old_commit_only_the_new_one_is_read(repo: Repo) -> None:
    repo.commit("Old story [#1 delivers]")
    head = repo.commit("New story [#2 delivers]")
    assert stories_between(repo.path, None, head) == (
        StoryCommit(head, "New story [#2 delivers]", (pivotal("2", "delivers"),)),
    )
    plain = repo.commit("No story here")
    assert stories_between(repo.path, None, plain) == ()


def test_a_merge_brings_the_branch_commits(repo: Repo) -> None:
    base = repo.commit("Start")
    repo.git("checkout", "-q", "-b", "feature/WEB-9-search")
    first = repo.commit("Search box [#10]")
    second = repo.commit("Search results [#10 finishes] [#11]")
    repo.git("checkout", "-q", "main")
    hotfix = repo.commit("Hotfix OPS-1")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature/WEB-9-search'", second)
    merge = repo.git("rev-parse", "HEAD")

    commits = stories_between(repo.path, hotfix, merge)
    assert [c.sha for c in commits] == [merge, second, first]
    assert commits[0].refs == (jira("WEB-9"),)
    assert delivered_stories(commits) == (
        jira("WEB-9"),
        pivotal("10", "finishes"),
        pivotal("11"),
    )
    # From before the branch: the hotfix on main is new too; the base is not.
    assert [c.sha for c in stories_between(repo.path, base, merge)] == [
        merge,
        hotfix,
        second,
        first,
    ]


def test_a_message_that_is_not_utf8_does_not_hide_the_others(repo: Repo) -> None:
    base = repo.commit("Start")
    (repo.path / "msg").write_bytes(b"Caf\xe9 [#5 delivers]\n")
    repo.git("-c", "i18n.commitEncoding=bogus", "commit", "-q", "--allow-empty", "-F", "msg")
    latin = repo.git("rev-parse", "HEAD")
    head = repo.commit("Next [#6]")
    commits = stories_between(repo.path, base, head)
    assert [c.sha for c in commits] == [head, latin]
    assert commits[1].refs == (pivotal("5", "delivers"),)


@pytest.mark.parametrize("revision", ["no-such-branch", "0" * 40, "--output=/tmp/x", ""])
def test_a_revision_that_is_not_a_commit_is_a_git_error(repo: Repo, revision: str) -> None:
    head = repo.commit("Start [#1]")
    with pytest.raises(GitError, match="not a commit") as caught:
        stories_between(repo.path, revision, head)
    assert isinstance(caught.value, ShiplineError)
    with pytest.raises(GitError, match="not a commit"):
        stories_between(repo.path, head, revision)


# --- delivered_stories and tracker_payload -------------------------------------------------

COMMITS = (
    StoryCommit("c3", "Fix [#2 fixes]", (pivotal("2", "fixes"), jira("WEB-1"))),
    StoryCommit("c2", "More WEB-1", (jira("WEB-1"),)),
    StoryCommit("c1", "Start [#2] [#3 delivers]", (pivotal("2"), pivotal("3", "delivers"))),
)


def test_delivered_stories_are_unique_across_commits() -> None:
    assert delivered_stories(COMMITS) == (
        pivotal("2", "fixes"),
        jira("WEB-1"),
        pivotal("3", "delivers"),
    )
    assert delivered_stories([]) == ()


def test_the_tracker_payload() -> None:
    payload = tracker_payload(
        repo="webshop",
        environment="production",
        deployment_id=42,
        commit="c3",
        url="http://127.0.0.1:8000/api/v1/repos/webshop/deployments/42",
        commits=COMMITS,
    )
    assert payload == {
        "event": "deployment",
        "repository": "webshop",
        "environment": "production",
        "deployment": {
            "id": 42,
            "commit": "c3",
            "url": "http://127.0.0.1:8000/api/v1/repos/webshop/deployments/42",
        },
        "stories": [
            {"tracker": "pivotal", "id": "2", "action": "fixes", "commits": ["c3", "c1"]},
            {"tracker": "jira", "id": "WEB-1", "action": None, "commits": ["c3", "c2"]},
            {"tracker": "pivotal", "id": "3", "action": "delivers", "commits": ["c1"]},
        ],
    }
    assert json.loads(json.dumps(payload)) == payload


def test_the_payload_of_a_deployment_without_stories() -> None:
    payload = tracker_payload(
        repo="r", environment="staging", deployment_id=1, commit="abc", url="u", commits=[]
    )
    assert payload["stories"] == []
