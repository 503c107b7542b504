"""What happened: the event a pipeline is chosen for."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SKIP_CI = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)


@dataclass(frozen=True)
class PullRequest:
    id: str
    source: str
    destination: str


@dataclass(frozen=True)
class Event:
    """A push to a branch or tag, a pull request, or a custom (manual/scheduled) run."""

    branch: str | None = None
    tag: str | None = None
    pull_request: PullRequest | None = None
    custom: str | None = None
    variables: tuple[tuple[str, str], ...] = ()
    commit_message: str = ""

    @property
    def is_push(self) -> bool:
        return self.custom is None and self.pull_request is None

    @property
    def skip_requested(self) -> bool:
        """`[skip ci]` / `[ci skip]` in the commit message skip push-triggered pipelines."""
        return self.is_push and bool(_SKIP_CI.search(self.commit_message))

    def describe(self) -> str:
        if self.custom is not None:
            return f"custom pipeline '{self.custom}'"
        if self.pull_request is not None:
            pr = self.pull_request
            return f"pull request #{pr.id} ({pr.source} → {pr.destination})"
        if self.tag is not None:
            return f"tag '{self.tag}'"
        if self.branch is not None:
            return f"branch '{self.branch}'"
        return "a push"
