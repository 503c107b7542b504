"""Tells the outside world what happens: chat notifications (Apprise), commit statuses on
the forge, stories shipped to the tracker.

Off the request and worker paths: the orchestrator and the deployment service only hand
over ids; background threads read the rows, build the messages and send them, and a target
that fails records its error on its row instead of raising. Commit statuses have a thread
of their own, so they reach the forge in the order things happened (a slow chat server
never holds them up); notifications and the tracker share another. What is handed over is
written to the `announcements` table first and deleted once sent, so a server stopped (or
killed) before sending sends it at its next start (`resume`): at least once, never lost.
`drain()` waits until everything handed over so far has been sent (tests, shutdown).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import delete, select, update

from shipline.errors import ShiplineError
from shipline.run.git import git
from shipline.server.commit_status import (
    CommitStatusError,
    StatusState,
    StatusTarget,
    send_status,
)
from shipline.server.notify import (
    NotificationTarget,
    deployment_notification,
    parse_kinds,
    pipeline_notification,
    send,
)
from shipline.store.models import (
    Announcement,
    Deployment,
    Environment,
    Pipeline,
    Repository,
    StatusTargetRow,
    Step,
)
from shipline.store.models import (
    NotificationTarget as TargetRow,
)

if TYPE_CHECKING:
    from shipline.server.state import ServerState

logger = logging.getLogger(__name__)
PIPELINE_STATES = {
    "running": StatusState.RUNNING,
    "passed": StatusState.SUCCESS,
    "paused": StatusState.SUCCESS,  # green so far; the rest waits for a person
    "failed": StatusState.FAILURE,
    "cancelled": StatusState.CANCELLED,
}


class Announcer:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._statuses = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statuses")
        self._messages = ThreadPoolExecutor(max_workers=1, thread_name_prefix="messages")
        self._jobs: dict[tuple[str, str], Callable[[int, str], None]] = {
            ("statuses", "pipeline"): self._pipeline_status,
            ("messages", "pipeline"): self._pipeline_message,
            ("messages", "deployment"): self._deployment,
        }

    # ---- handed over by the orchestrator and the deployment service ---------------------

    def pipeline_changed(self, pipeline_id: int, status: str) -> None:
        self._hand_over(
            [
                ("statuses", "pipeline", pipeline_id, status),
                ("messages", "pipeline", pipeline_id, status),
            ]
        )

    def deployment_changed(self, deployment_id: int, status: str) -> None:
        self._hand_over([("messages", "deployment", deployment_id, status)])

    def resume(self) -> None:
        """At start: send what an earlier run of the server was handed but never sent
        (it stopped first), in the order it was handed over. Sent at least once: what
        was on the wire when it stopped is sent again."""
        with self.state.db.session() as session:
            left = session.execute(select(Announcement).order_by(Announcement.id)).scalars().all()
            rows = [(a.id, a.channel, a.subject, a.subject_id, a.status) for a in left]
        if rows:
            logger.info("sending %d announcement(s) left by the previous run", len(rows))
        for row in rows:
            self._submit(*row)

    def _hand_over(self, items: list[tuple[str, str, int, str]]) -> None:
        # Written down first: a restart before the send still sends it (see resume).
        with self.state.db.session() as session:
            rows = [
                Announcement(channel=c, subject=k, subject_id=i, status=s) for c, k, i, s in items
            ]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
        for row_id, item in zip(ids, items, strict=True):
            self._submit(row_id, *item)

    def _submit(
        self, row_id: int, channel: str, subject: str, subject_id: int, status: str
    ) -> None:
        job = self._jobs.get((channel, subject))
        if job is None:  # written by another version of Shipline: nothing here sends it
            logger.warning("dropping announcement %s (%s, %s)", row_id, channel, subject)
            self._sent(row_id)
            return
        pool = self._statuses if channel == "statuses" else self._messages
        pool.submit(self._send, row_id, job, subject_id, status)

    def _send(
        self, row_id: int, job: Callable[[int, str], None], subject_id: int, status: str
    ) -> None:
        self._safely(job, subject_id, status)
        try:
            self._sent(row_id)
        except Exception:  # the database is away: it is sent again at the next start
            logger.exception("could not mark announcement %s sent", row_id)

    def _sent(self, row_id: int) -> None:
        with self.state.db.session() as session:
            session.execute(delete(Announcement).where(Announcement.id == row_id))

    def drain(self) -> None:
        for pool in (self._statuses, self._messages):
            pool.submit(lambda: None).result()  # one thread each: all before it are done

    def shutdown(self) -> None:
        for pool in (self._statuses, self._messages):
            pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _safely(job: object, *args: object) -> None:
        try:
            job(*args)  # type: ignore[operator]
        except Exception:  # a background thread never dies silently
            logger.exception("announcing failed")

    # ---- pipelines: commit statuses and notifications ------------------------------------

    def _facts(self, pipeline_id: int, status: str) -> dict[str, Any] | None:
        with self.state.db.session() as session:
            pipeline = session.get(Pipeline, pipeline_id)
            if pipeline is None:
                return None
            repository = session.get(Repository, pipeline.repository_id)
            assert repository is not None
            base = f"{self.state.settings.url}/api/v1/repos/{repository.name}"
            previous = session.scalar(
                select(Pipeline.status)
                .where(
                    Pipeline.repository_id == pipeline.repository_id,
                    Pipeline.ref_name == pipeline.ref_name,
                    Pipeline.build_number < pipeline.build_number,
                    Pipeline.status.in_(["passed", "failed"]),
                )
                .order_by(Pipeline.build_number.desc())
                .limit(1)
            )
            return {
                "repo": repository.name, "repository_id": repository.id,
                "number": pipeline.build_number, "commit": pipeline.commit,
                "branch": pipeline.ref_name, "who": pipeline.triggered_by,
                "link": f"{base}/pipelines/{pipeline.build_number}", "previous": previous,
                "description": _pipeline_description(session, pipeline, status),
            }  # fmt: skip

    def _pipeline_status(self, pipeline_id: int, status: str) -> None:
        if status not in PIPELINE_STATES or not self._repository_has(StatusTargetRow, pipeline_id):
            return  # the usual case: nobody to tell, so no queries, no git, no HTTP client
        facts = self._facts(pipeline_id, status)
        if facts is not None:
            self._commit_statuses(
                facts["repository_id"], facts["commit"], PIPELINE_STATES[status],
                facts["link"], facts["description"],
            )  # fmt: skip

    def _pipeline_message(self, pipeline_id: int, status: str) -> None:
        if not self._repository_has(TargetRow, pipeline_id):
            return
        facts = self._facts(pipeline_id, status)
        if facts is None:
            return
        notification = pipeline_notification(
            repo=facts["repo"], number=facts["number"], status=status,
            previous_status=facts["previous"], branch=facts["branch"], commit=facts["commit"],
            message=self._message(facts["repo"], facts["commit"]), triggered_by=facts["who"],
            reason=facts["description"] if status == "failed" else "", link=facts["link"],
        )  # fmt: skip
        if notification is not None:
            self._notify(facts["repository_id"], notification)

    def _commit_statuses(
        self, repository_id: int, commit: str, state: StatusState, link: str, description: str
    ) -> None:
        with self.state.db.session() as session:
            rows = session.scalars(
                select(StatusTargetRow).where(StatusTargetRow.repository_id == repository_id)
            ).all()
            targets = [
                (
                    row.id,
                    StatusTarget(
                        row.forge,
                        row.project,
                        self.state.box.decrypt(row.token),
                        row.base_url,
                        row.context,
                    ),
                )
                for row in rows
            ]
        if not targets:
            return
        with httpx.Client() as client:
            for row_id, target in targets:
                error = ""
                try:
                    send_status(target, commit, state, link, description, client=client)
                except CommitStatusError as exc:
                    error = str(exc)
                    logger.warning("commit status: %s", exc)
                self._record(StatusTargetRow, row_id, error)

    # ---- deployments: notifications and the tracker --------------------------------------

    def _deployment(self, deployment_id: int, status: str) -> None:
        state = self.state
        with state.db.session() as session:
            deployment = session.get(Deployment, deployment_id)
            if deployment is None:
                return
            repository = session.get(Repository, deployment.repository_id)
            env = session.get(Environment, deployment.environment_id)
            assert repository is not None
            assert env is not None
            stories = json.loads(deployment.stories or "[]")
            link = (
                f"{state.settings.url}/api/v1/repos/{repository.name}/deployments/{deployment.id}"
            )
            repo, repository_id, commit = repository.name, repository.id, deployment.commit
            environment, who = env.name, deployment.triggered_by
            tracker = repository.tracker_webhook
        notification = deployment_notification(
            repo=repo, environment=environment, deployment_id=deployment_id, status=status,
            commit=commit, message=self._message(repo, commit), triggered_by=who, link=link,
            stories=[f"#{s['id']}" if s["tracker"] == "pivotal" else s["id"] for s in stories],
        )  # fmt: skip
        if notification is not None:
            self._notify(repository_id, notification)
        if status == "passed" and stories and tracker:
            self._tell_tracker(tracker, repo, environment, deployment_id, commit, link, stories)

    def _tell_tracker(
        self,
        sealed: str,
        repo: str,
        environment: str,
        deployment_id: int,
        commit: str,
        link: str,
        stories: list[dict[str, object]],
    ) -> None:
        config = json.loads(self.state.box.decrypt(sealed))
        wanted = config.get("environments") or ["production"]
        if environment not in wanted:
            return
        payload = {
            "event": "deployment",
            "repository": repo,
            "environment": environment,
            "deployment": {"id": deployment_id, "commit": commit, "url": link},
            "stories": stories,
        }
        try:
            response = httpx.post(config["url"], json=payload, timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("the tracker webhook of %s failed: %s", repo, type(exc).__name__)

    # ---- shared ------------------------------------------------------------------------

    def _repository_has(
        self, targets: type[StatusTargetRow] | type[TargetRow], pipeline_id: int
    ) -> bool:
        """Whether the pipeline's repository has any target of that kind."""
        with self.state.db.session() as session:
            found = session.scalar(
                select(targets.id)
                .join(Pipeline, Pipeline.repository_id == targets.repository_id)
                .where(Pipeline.id == pipeline_id)
                .limit(1)
            )
        return found is not None

    def _notify(self, repository_id: int, notification: object) -> None:
        with self.state.db.session() as session:
            rows = session.scalars(
                select(TargetRow).where(TargetRow.repository_id == repository_id)
            ).all()
            targets = {
                row.id: NotificationTarget(
                    self.state.box.decrypt(row.url),
                    parse_kinds(row.kinds.split(",") if row.kinds else ()),
                    row.name,
                )
                for row in rows
            }
        for row_id, target in targets.items():
            deliveries = send(notification, [target])  # type: ignore[arg-type]
            if deliveries:
                self._record(TargetRow, row_id, deliveries[0].error if not deliveries[0].ok else "")

    def _record(
        self, model: type[TargetRow] | type[StatusTargetRow], row_id: int, error: str
    ) -> None:
        with self.state.db.session() as session:
            session.execute(update(model).where(model.id == row_id).values(last_error=error[:2000]))

    def _message(self, repo: str, commit: str) -> str:
        try:
            return git(["log", "-1", "--format=%s", commit], self.state.repo_dir(repo)).strip()
        except ShiplineError:
            return ""


def _pipeline_description(session: object, pipeline: Pipeline, status: str) -> str:
    """One line for the forge: what happened, and for a failure, where."""
    steps = session.scalars(  # type: ignore[attr-defined]
        select(Step).where(Step.pipeline_id == pipeline.id).order_by(Step.number)
    ).all()
    if status == "failed":
        failed = next((s for s in steps if s.status == "failed"), None)
        if failed is not None:
            return f"failed in '{failed.name}': {failed.reason}"
        return "failed"
    if status == "paused":
        paused = next((s for s in steps if s.status == "paused"), None)
        return f"passed so far; waiting for '{paused.name}'" if paused else "paused"
    return {
        "running": f"running pipeline #{pipeline.build_number}",
        "passed": f"pipeline #{pipeline.build_number} passed",
        "cancelled": f"pipeline #{pipeline.build_number} was stopped",
    }.get(status, status)
