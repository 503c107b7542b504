"""Stories shipped: tracker references in commit messages, the commits a deployment brings, and
the JSON a tracker webhook receives for them.

Two syntaxes are recognised (`find_stories`):

- **Pivotal Tracker**, its "SCM post-commit" syntax (Tracker's help,
  https://www.pivotaltracker.com/help/articles/githubs_service_hook_for_tracker/, and the API
  docs' "Tracker Updates in SCM Post-Commit Hooks", reproduced at
  https://docs.ddss.ch/docs/programming/git/pivotal_commit_commands.html): square brackets
  holding one or more story ids, each a `#` followed immediately by digits, and optionally an
  action word before or after them — `[#13378337]`, `[#123, #456 delivers]`,
  `[finishes #123 #456]`, `[Fixes #123]`. The action words, in any case and in the forms
  Tracker accepts ("Fix", "FIXES", "fixed"...), are normalised to "fixes", "completes",
  "finishes" or "delivers"; when one bracket holds several, the first one written wins.
  Tracker asks for one bracket per message; every bracket with an id is read here. A `#123`
  outside brackets is not a Tracker reference (it is GitHub's and others' issue syntax), and
  `[#]`, `[# 12]`, `[#12a]`, `[#0]` are not either; `[#007]` is story 7.
- **Jira** issue keys, `PROJ-123`, anywhere in the message. Atlassian's rules for project
  keys (https://confluence.atlassian.com/adminjiraserver/changing-the-project-key-format-938847081.html):
  an uppercase letter first, then uppercase letters, digits or underscores; Jira's default
  keys have at least two characters (`[A-Z][A-Z]+`, as GitLab notes in
  https://gitlab.com/gitlab-org/gitlab/-/issues/390887), which is required here, so `A-1` is
  not a key. Issue numbers start at 1 and have no leading zero. Three more rules keep
  ordinary technical text out:
  - the key must not continue a word or a hyphenated name (`fooPROJ-1`, `X-PROJ-1`), and
    the number must end the token: not followed by a letter, digit, `_`, or `-`/`.` and a
    digit (`PROJ-1a`, `TICKET-12-3`, `GPL-3.0`), as GitLab bounds its key pattern
    (https://gitlab.com/gitlab-org/gitlab/-/merge_requests/82104);
  - lowercase spellings never match (`x86-64`, `utf-8`);
  - a small denylist of standards, encodings and algorithms that are written like keys far
    more often than they are Jira projects: `DENYLIST` below (`UTF-8`, `SHA-256`,
    `ISO-8601`, `CVE-2024-1`, `RFC-7231`, `X86-64`, `PEP-8`, `GPL-3`...). GitLab's own key
    pattern excludes `CVE-` for the same reason. A team whose Jira project is called `RFC`
    would lose its references; that is the price of not reporting `SHA-256` as a story.
  Jira references carry no action: the webhook says the commit was deployed, and what that
  means for the issue (smart-commit commands included) is the tracker side's business.

`find_stories` returns each story once, (tracker, id) being its identity, in the order of its
first appearance; a story named twice keeps the first action given to it.

`stories_between(repo, old, new)` lists the commits reachable from `new` but not from `old`
(`git log old..new`, merged branches included), newest first (`--date-order`: never a parent
before its children), keeping those whose full message references a story. With `old` None —
the first deployment to an environment — only `new` itself is read: walking the whole history
would tell the tracker that every story ever mentioned was delivered just now, and a tracker
moves stories on such news.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipline.errors import GitError
from shipline.run.git import git

ACTIONS = {"fix": "fixes", "complet": "completes", "finish": "finishes", "deliver": "delivers"}
DENYLIST = frozenset(
    {
        "AES", "AGPL", "CVE", "CWE", "ECMA", "GPL", "IEC", "IEEE", "ISO", "LGPL", "PEP", "RFC",
        "SHA", "UCS", "UTF", "X86",
    }
)  # fmt: skip

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
# `[0-9]`, not `\d`: Python's `\d` also matches other scripts' digits.
_PIVOTAL_ID = re.compile(r"#0*([1-9][0-9]*)(?!\w)")
_ACTION = re.compile(
    r"\b(fix(?:e[sd])?|complete[sd]?|finish(?:e[sd])?|deliver(?:s|ed)?)\b", re.IGNORECASE
)
_JIRA_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])([A-Z][A-Z0-9_]+)-([1-9][0-9]*)(?![A-Za-z0-9_]|[-.][0-9])"
)
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}


@dataclass(frozen=True)
class StoryRef:
    tracker: str  # "pivotal" | "jira"
    id: str  # "13378337" or "PROJ-123"
    action: str | None  # "delivers", "finishes", "fixes", "completes" (normalised) or None


@dataclass(frozen=True)
class StoryCommit:
    sha: str
    message: str  # first line
    refs: tuple[StoryRef, ...]


def find_stories(message: str) -> tuple[StoryRef, ...]:
    """The stories `message` references, each once, in order of first appearance."""
    found: list[tuple[int, StoryRef]] = []
    for bracket in _BRACKET.finditer(message):
        body = bracket.group(1)
        ids = list(_PIVOTAL_ID.finditer(body))
        if not ids:
            continue
        word = _ACTION.search(body)
        action = _normalised(word.group(1)) if word else None
        for story in ids:
            found.append((bracket.start(1) + story.start(), StoryRef("pivotal", story[1], action)))
    for key in _JIRA_KEY.finditer(message):
        if key.group(1) not in DENYLIST:
            found.append((key.start(), StoryRef("jira", key.group(0), None)))
    found.sort(key=lambda item: item[0])
    return _unique(ref for _, ref in found)


def stories_between(repo_dir: Path, old: str | None, new: str) -> tuple[StoryCommit, ...]:
    """Commits in `new` but not in `old` that reference a story, newest first.

    `old` None reads `new` alone (see the module docstring). Raises GitError when a revision
    does not name a commit of the repository.
    """
    head = _commit_sha(repo_dir, new)
    revisions = ["-1", head] if old is None else [f"{_commit_sha(repo_dir, old)}..{head}"]
    log = ["log", "-z", "--date-order", "--no-show-signature", "--format=%H%n%B"]
    output = _git_bytes(["-c", "i18n.logOutputEncoding=UTF-8", *log, *revisions], repo_dir)
    commits = []
    # Messages need not be UTF-8 (git stores bytes); a stray byte must not hide the others.
    for record in output.decode("utf-8", errors="replace").split("\0"):
        sha, _, message = record.strip("\n").partition("\n")
        if not sha:
            continue
        refs = find_stories(message)
        if refs:
            commits.append(StoryCommit(sha, message.split("\n", 1)[0].rstrip(), refs))
    return tuple(commits)


def delivered_stories(commits: Iterable[StoryCommit]) -> tuple[StoryRef, ...]:
    """Every story the commits reference, once, in the commits' order."""
    return _unique(ref for commit in commits for ref in commit.refs)


def tracker_payload(
    *,
    repo: str,
    environment: str,
    deployment_id: int,
    commit: str,
    url: str,
    commits: Sequence[StoryCommit],
) -> dict[str, object]:
    """The JSON body the tracker webhook receives for one deployment."""
    shas: dict[tuple[str, str], list[str]] = {}
    for item in commits:
        for ref in item.refs:
            listed = shas.setdefault((ref.tracker, ref.id), [])
            if item.sha not in listed:
                listed.append(item.sha)
    stories = [
        {
            "tracker": ref.tracker,
            "id": ref.id,
            "action": ref.action,
            "commits": shas[(ref.tracker, ref.id)],
        }
        for ref in delivered_stories(commits)
    ]
    return {
        "event": "deployment",
        "repository": repo,
        "environment": environment,
        "deployment": {"id": deployment_id, "commit": commit, "url": url},
        "stories": stories,
    }


def _normalised(word: str) -> str:
    lowered = word.lower()
    return next(action for stem, action in ACTIONS.items() if lowered.startswith(stem))


def _unique(refs: Iterable[StoryRef]) -> tuple[StoryRef, ...]:
    """One ref per (tracker, id), where it first appeared, with the first action given."""
    merged: dict[tuple[str, str], StoryRef] = {}
    for ref in refs:
        key = (ref.tracker, ref.id)
        known = merged.get(key)
        if known is None or (known.action is None and ref.action is not None):
            merged[key] = ref  # replacing a value keeps the key's place in the dict
    return tuple(merged.values())


def _commit_sha(repo_dir: Path, revision: str) -> str:
    # A revision starting with "-" would be read as an option by git.
    if revision.startswith("-") or not revision:
        raise GitError(f"not a commit: {revision!r}")
    sha = git(
        ["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], repo_dir, check=False
    ).strip()
    if not sha:
        raise GitError(f"not a commit in {repo_dir}: {revision!r}")
    return sha


def _git_bytes(args: list[str], cwd: Path) -> bytes:
    """`git ARGS` as bytes: `shipline.run.git.git` decodes strictly, commit messages may not."""
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        raise GitError(f"git {' '.join(args)}: {message}")
    return proc.stdout
