"""Keep a hosted repository in step with the forge it mirrors: fetch what a webhook says was
pushed (and drop what it says was deleted) before the pipeline reads the commit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shipline.run.git import git
from shipline.server.forges import ZERO_SHA, PushedRef


def fetch_refs(repo_dir: Path, remote_url: str, refs: Sequence[PushedRef]) -> None:
    """Bring the pushed refs of `remote_url` into `repo_dir`; raises GitError on failure.

    Forced refspecs: a force-push on the forge moves the mirror's ref too.
    """
    wanted = [f"+{r.ref}:{r.ref}" for r in refs if r.new != ZERO_SHA]
    if wanted:
        git(["fetch", "--quiet", "--no-tags", "--", remote_url, *wanted], repo_dir)
    for deleted in (r for r in refs if r.new == ZERO_SHA):
        git(["update-ref", "-d", deleted.ref], repo_dir, check=False)
