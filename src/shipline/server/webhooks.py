"""Forge webhooks after the signature check: one background thread fetches the pushed
commits into the mirror and records their pipelines, so the forge gets its answer at once
(GitHub waits 10 s at most, GitLab marks slow hooks as failing)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from shipline.errors import ShiplineError
from shipline.run.git import git
from shipline.server.forges import ZERO_SHA, WebhookEvent, forge_named
from shipline.server.mirror import fetch_refs
from shipline.server.triggers import RefUpdate, record_push
from shipline.store.models import Repository, WebhookDelivery

if TYPE_CHECKING:
    from shipline.server.state import ServerState

logger = logging.getLogger(__name__)

NO_REMOTE = "no remote URL to fetch from: set the repository's remote_url"
FETCH_FAILED = "fetching from "  # … "{remote} failed: {why}"


def fetched_nothing(outcome: str) -> bool:
    """True for the outcome of a delivery that stopped before the fetch, so recorded nothing.

    A redelivery of such a delivery is handled again: the forges' "Redeliver"/"Resend" is how
    a failed delivery is recovered (once remote_url is set, say). A redelivery of any other
    delivery, or of one still being handled, starts nothing.
    """
    return outcome.startswith((NO_REMOTE, FETCH_FAILED))


class WebhookInbox:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        # One at a time: two fetches into one mirror would trip over each other's locks.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhooks")

    def submit(self, repository_id: int, event: WebhookEvent, delivery_id: int | None) -> None:
        self._pool.submit(self._handle_safely, repository_id, event, delivery_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def drain(self) -> None:
        """Wait until every delivery submitted so far has been handled (tests, shutdown)."""
        self._pool.submit(lambda: None).result()

    def _handle_safely(self, repository_id: int, event: WebhookEvent, delivery: int | None) -> None:
        try:
            outcome = self._handle(repository_id, event)
        except Exception as exc:  # never die silently in a background thread
            logger.exception("webhook delivery %s failed", event.delivery_id)
            outcome = f"error: {exc}"
        if delivery is not None:
            with self.state.db.session() as session:
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery)
                    .values(outcome=outcome[:2000])
                )

    def _handle(self, repository_id: int, event: WebhookEvent) -> str:
        state = self.state
        with state.db.session() as session:
            repository = session.get(Repository, repository_id)
            assert repository is not None
            name, remote = repository.name, repository.remote_url or event.clone_url
        if not remote:
            return NO_REMOTE
        repo_dir = state.repo_dir(name)
        try:
            fetch_refs(repo_dir, remote, event.refs)
        except ShiplineError as exc:
            return f"{FETCH_FAILED}{remote} failed: {exc}"
        forge = forge_named(event.forge)
        who = f"{forge.title if forge else event.forge} webhook"
        lines, started = [], []
        with state.db.session() as session:
            repository = session.scalar(select(Repository).where(Repository.id == repository_id))
            assert repository is not None
            for ref in event.refs:
                update_ = RefUpdate(ref.old, _peeled(repo_dir, ref.new), ref.ref)
                result = record_push(
                    session, repository, repo_dir, update_,
                    state.settings.url, trigger="webhook", triggered_by=who,
                )  # fmt: skip
                lines.append(result.message)
                if result.pipeline_id is not None:
                    started.append(result.pipeline_id)
        state.orchestrator.advance_all(started)
        return "; ".join(lines) or "no refs"


def _peeled(repo_dir: Path, sha: str) -> str:
    """The commit `sha` names: GitHub and Gitea give an annotated tag's push the tag object
    as `after`, and the pipeline runs (and reports BITBUCKET_COMMIT) on the commit it tags.
    Left as it is when the mirror cannot resolve it (record_push then says so)."""
    if sha == ZERO_SHA:
        return sha
    peeled = git(["rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}"], repo_dir, check=False)
    return peeled.strip() or sha
