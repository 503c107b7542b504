"""git helpers against real repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shipline.errors import GitError
from shipline.run.git import (
    changed_files,
    git,
    has_uncommitted_changes,
    head_commit,
    remote_identity,
    repo_root,
)

MakeRepo = Callable[..., Path]
GitIn = Callable[..., str]
Commit = Callable[..., str]


def test_git_returns_stdout(make_repo: MakeRepo) -> None:
    repo = make_repo("x: 1\n")
    assert git(["rev-parse", "--abbrev-ref", "HEAD"], repo) == "main\n"


def test_git_failure_carries_gits_message(make_repo: MakeRepo) -> None:
    repo = make_repo("x: 1\n")
    with pytest.raises(GitError, match=r"^git rev-parse --verify nope: fatal: Needed a single"):
        git(["rev-parse", "--verify", "nope"], repo)
    assert git(["rev-parse", "--verify", "--quiet", "nope"], repo, check=False) == ""


def test_repo_root_from_a_subdirectory(make_repo: MakeRepo) -> None:
    repo = make_repo("x: 1\n", {"a/b/c.txt": "c"})
    assert repo_root(repo / "a" / "b") == repo.resolve()


def test_head_commit(make_repo: MakeRepo, git_in: GitIn) -> None:
    repo = make_repo("x: 1\n", branch="develop", message="first line\n\nbody [skip ci]")
    info = head_commit(repo)
    assert info.sha == git_in(repo, "rev-parse", "HEAD").strip()
    assert len(info.sha) == 40
    assert info.message == "first line\n\nbody [skip ci]\n\n"
    assert info.branch == "develop"


def test_head_commit_of_a_revision_and_detached_head(
    make_repo: MakeRepo, commit: Commit, git_in: GitIn
) -> None:
    repo = make_repo("x: 1\n")
    first = git_in(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"f": "1"}, "second")
    assert head_commit(repo, "HEAD~1").sha == first
    git_in(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo).branch is None


def test_head_commit_of_an_empty_repository_fails(tmp_path: Path, git_in: GitIn) -> None:
    git_in(tmp_path, "init", "-q")
    with pytest.raises(GitError):
        head_commit(tmp_path)


def test_uncommitted_changes_ignore_untracked_files(make_repo: MakeRepo) -> None:
    repo = make_repo("x: 1\n", {"tracked.txt": "a"})
    assert not has_uncommitted_changes(repo)
    (repo / "untracked.txt").write_text("new")
    assert not has_uncommitted_changes(repo)
    (repo / "tracked.txt").write_text("b")
    assert has_uncommitted_changes(repo)


def test_changed_files_of_a_root_commit_are_unknown(make_repo: MakeRepo, git_in: GitIn) -> None:
    repo = make_repo("x: 1\n")
    assert changed_files(repo, git_in(repo, "rev-parse", "HEAD").strip()) is None


def test_changed_files_against_the_first_parent(make_repo: MakeRepo, commit: Commit) -> None:
    repo = make_repo("x: 1\n", {"src/app.py": "a", "docs/readme.md": "r"})
    sha = commit(repo, {"src/app.py": "b", "src/new.py": "n"})
    assert changed_files(repo, sha) == ["src/app.py", "src/new.py"]


def test_deleted_and_renamed_files_count_on_both_sides(make_repo: MakeRepo, git_in: GitIn) -> None:
    repo = make_repo("x: 1\n", {"old/name.txt": "content that is long enough\n" * 5})
    (repo / "new").mkdir()
    git_in(repo, "mv", "old/name.txt", "new/name.txt")
    git_in(repo, "commit", "-q", "-m", "rename")
    sha = git_in(repo, "rev-parse", "HEAD").strip()
    assert changed_files(repo, sha) == ["new/name.txt", "old/name.txt"]


def test_changed_files_against_a_base_use_the_merge_base(
    make_repo: MakeRepo, commit: Commit, git_in: GitIn
) -> None:
    repo = make_repo("x: 1\n", {"shared.txt": "0"})
    git_in(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"feature.txt": "f"})
    tip = commit(repo, {"feature2.txt": "f"})
    git_in(repo, "checkout", "-q", "main")
    commit(repo, {"main-only.txt": "m"})  # must not count: it is not part of the PR
    assert changed_files(repo, tip, "main") == ["feature.txt", "feature2.txt"]
    assert changed_files(repo, tip, "no-such-branch") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@bitbucket.org:team/app.git", ("team", "app")),
        ("https://bitbucket.org/team/app", ("team", "app")),
        ("https://user@bitbucket.org/team/app.git/", ("team", "app")),
        ("ssh://git@example.com:7999/proj/repo.git", ("proj", "repo")),
    ],
)
def test_remote_identity(
    make_repo: MakeRepo, git_in: GitIn, url: str, expected: tuple[str, str]
) -> None:
    repo = make_repo("x: 1\n")
    git_in(repo, "remote", "add", "origin", url)
    assert remote_identity(repo) == expected


def test_remote_identity_without_origin(make_repo: MakeRepo) -> None:
    assert remote_identity(make_repo("x: 1\n")) == (None, None)
