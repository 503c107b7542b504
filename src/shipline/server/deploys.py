"""Deployments: environments, their lock and queue, and the rules for what may run there.

A step with `deployment: ENV` does not go straight to the workers. The orchestrator hands
it here (`begin`): it gets a deployment record and waits (step status `waiting`) until the
environment is free. `dispatch` lets the oldest waiting deployment of an environment go when
none runs there — at most one deployment per environment at a time — after two checks:

- **older over newer**: a commit that is an ancestor of the one the environment already
  runs is refused (the step fails, saying why), unless the deployment is a rollback;
- **rolled back**: after a rollback away from a commit, that commit (or an older one) is not
  deployed again by itself: its step pauses until a person runs it.

A newer automatic deployment supersedes older automatic ones still waiting for the same
environment (configurable per environment): they are cancelled, and their pipelines stop.
A stage with `deployment:` is one deployment: its first step takes the lock, its last step
(or its failure) gives it back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shipline.errors import ShiplineError
from shipline.plan import Plan, StepSpec
from shipline.run.git import git, git_ok
from shipline.server.plans import CompiledPipeline
from shipline.server.secretbox import SecretBox
from shipline.server.stories import delivered_stories, stories_between
from shipline.store.db import Database
from shipline.store.models import Deployment, Environment, Pipeline, Repository, Step

logger = logging.getLogger(__name__)
BUSY = ("queued", "running")  # holds the environment's lock
OPEN = ("waiting", *BUSY)  # not ended yet
KINDS = {"test": 0, "staging": 1, "production": 2}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def environment_kind(name: str) -> str:
    """Bitbucket's environment types, guessed from the name: test, staging or production."""
    lowered = name.lower()
    if "prod" in lowered or lowered in ("live", "prd"):
        return "production"
    if "stag" in lowered or lowered in ("preprod", "uat", "acceptance"):
        return "staging"
    return "test"


def environment(session: Session, repository_id: int, name: str) -> Environment:
    """The repository's environment `name`, made on first use (ordered test, staging,
    production; within a type, in the order they appear)."""
    found = session.scalar(
        select(Environment).where(
            Environment.repository_id == repository_id, Environment.name == name
        )
    )
    if found is not None:
        return found
    kind = environment_kind(name)
    count = len(
        session.scalars(
            select(Environment.id).where(
                Environment.repository_id == repository_id, Environment.kind == kind
            )
        ).all()
    )
    found = Environment(
        repository_id=repository_id, name=name, kind=kind, position=KINDS[kind] * 100 + count
    )
    session.add(found)
    session.flush()
    return found


def waiting_deployments(session: Session, environment_id: int) -> list[Deployment]:
    """The environment's queue: deployments not yet ended, oldest first."""
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.environment_id == environment_id, Deployment.status.in_(OPEN))
            .order_by(Deployment.queued_at, Deployment.id)
        ).all()
    )


def recent_deployments(session: Session, environment_id: int, limit: int) -> list[Deployment]:
    """The environment's last `limit` deployments, newest first."""
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.environment_id == environment_id)
            .order_by(Deployment.id.desc())
            .limit(limit)
        ).all()
    )


def stage_steps(plan: Plan, step: StepSpec) -> tuple[StepSpec, ...]:
    """The steps of `step`'s stage, in order (just `step` outside a stage)."""
    if step.stage is None:
        return (step,)
    for item in plan.items:
        steps = getattr(item, "steps", None)
        if steps and any(s.id == step.id for s in steps) and getattr(item, "name", None):
            return tuple(steps)
    return (step,)


@dataclass(frozen=True)
class Begun:
    status: str  # what the step becomes: waiting (for the lock) or queued
    environment_id: int
    superseded: tuple[int, ...] = ()  # pipelines whose waiting deployment this one replaced


@dataclass(frozen=True)
class Snapshot:
    """The variables a deployment ran with (secured names listed, to be masked again)."""

    values: dict[str, str]
    secured: tuple[str, ...]

    def seal(self, box: SecretBox) -> str:
        return box.encrypt(json.dumps({"values": self.values, "secured": list(self.secured)}))

    @classmethod
    def unseal(cls, box: SecretBox, sealed: str) -> Snapshot:
        data = json.loads(box.decrypt(sealed))
        return cls(dict(data["values"]), tuple(data["secured"]))


class DeploymentService:
    def __init__(
        self,
        db: Database,
        repos_dir: Path,
        compile_pipeline: Callable[[Pipeline], CompiledPipeline],
    ) -> None:
        self.db = db
        self.repos_dir = repos_dir
        self.compile_pipeline = compile_pipeline
        # Set by the server: wake workers; move a pipeline on; tell the world.
        self.on_queued: Callable[[], None] = lambda: None
        self.on_pipeline_changed: Callable[[int], None] = lambda pipeline_id: None
        self.on_deployment: list[Callable[[int, str], None]] = []
        self._locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def _lock(self, environment_id: int) -> threading.Lock:
        with self._guard:
            return self._locks[environment_id]

    # ---- from the orchestrator ----------------------------------------------------------

    def begin(
        self, session: Session, pipeline: Pipeline, row: Step, spec: StepSpec, plan: Plan
    ) -> Begun:
        """A deployment step is due: the status it moves to (`waiting` for the lock, or
        `queued` for a later step of a stage that holds it), in the caller's transaction."""
        assert spec.deployment is not None
        env = environment(session, pipeline.repository_id, spec.deployment)
        if spec.stage is not None and stage_steps(plan, spec)[0].id != spec.id:
            holding = session.scalar(
                select(Deployment.id).where(
                    Deployment.pipeline_id == pipeline.id,
                    Deployment.stage == spec.stage,
                    Deployment.status.in_(BUSY),
                )
            )
            if holding is not None:
                return Begun("queued", env.id)
        kind = "deploy"
        if pipeline.redeploys is not None:
            kind = self._redeploy_kind(session, env, pipeline.commit)
        deployment = Deployment(
            environment_id=env.id,
            repository_id=pipeline.repository_id,
            pipeline_id=pipeline.id,
            step_id=row.id,
            stage=spec.stage,
            commit=pipeline.commit,
            status="waiting",
            kind=kind,
            triggered_by=row.approved_by or pipeline.triggered_by,
            source_id=pipeline.redeploys,
        )
        session.add(deployment)
        session.flush()
        superseded: list[int] = []
        if env.supersede and kind == "deploy" and row.approved_by is None:
            superseded = self._supersede(session, env, deployment, pipeline)
        return Begun("waiting", env.id, tuple(superseded))

    def _redeploy_kind(self, session: Session, env: Environment, commit: str) -> str:
        current = self.current(session, env.id)
        if current is not None and current.commit != commit:
            repo_dir = self._repo_dir(session, env.repository_id)
            if git_ok(["merge-base", "--is-ancestor", commit, current.commit], repo_dir):
                return "rollback"
        return "redeploy"

    def _supersede(
        self, session: Session, env: Environment, newer: Deployment, pipeline: Pipeline
    ) -> list[int]:
        """Cancel the older automatic deployments waiting there; returns their pipelines."""
        stopped: list[int] = []
        older = session.scalars(
            select(Deployment).where(
                Deployment.environment_id == env.id,
                Deployment.status == "waiting",
                Deployment.kind == "deploy",
                Deployment.pipeline_id != pipeline.id,
                Deployment.id < newer.id,
            )
        ).all()
        for deployment in older:
            step = session.get(Step, deployment.step_id)
            if step is None or step.approved_by is not None:
                continue  # a person asked for that one: it waits its turn
            reason = (
                f"superseded by pipeline #{pipeline.build_number}, a newer deployment to "
                f"{env.name} ({pipeline.commit[:12]})"
            )
            deployment.status, deployment.reason, deployment.finished_at = (
                "superseded",
                reason,
                now(),
            )
            session.execute(
                update(Step)
                .where(Step.id == step.id, Step.status == "waiting")
                .values(status="cancelled", reason=reason, finished_at=now())
            )
            stopped.append(deployment.pipeline_id)
        return stopped

    # ---- the queue of an environment ----------------------------------------------------

    def dispatch(self, environment_ids: Iterable[int]) -> None:
        """Let the next waiting deployment of each environment go, if none runs there."""
        for environment_id in sorted(set(environment_ids)):
            changed: list[int] = []
            queued = False
            with self._lock(environment_id), self.db.session() as session:
                env = session.scalar(
                    select(Environment).where(Environment.id == environment_id).with_for_update()
                )
                if env is None:
                    continue
                while True:
                    outcome = self._next(session, env)
                    if outcome is None:
                        break
                    verdict, pipeline_id = outcome
                    if verdict == "queued":
                        queued = True
                        break
                    changed.append(pipeline_id)
            if queued:
                self.on_queued()
            for pipeline_id in changed:
                self.on_pipeline_changed(pipeline_id)

    def _next(self, session: Session, env: Environment) -> tuple[str, int] | None:
        busy = session.scalar(
            select(Deployment.id).where(
                Deployment.environment_id == env.id, Deployment.status.in_(BUSY)
            )
        )
        if busy is not None:
            return None
        waiting = session.scalar(
            select(Deployment)
            .where(Deployment.environment_id == env.id, Deployment.status == "waiting")
            .order_by(Deployment.queued_at, Deployment.id)
            .limit(1)
        )
        if waiting is None:
            return None
        step = session.get(Step, waiting.step_id)
        assert step is not None
        repo_dir = self._repo_dir(session, env.repository_id)
        current = self.current(session, env.id)
        automatic = step.approved_by is None and waiting.kind == "deploy"
        held = env.rolled_back_commit
        if (
            automatic
            and held
            and (
                waiting.commit == held
                or git_ok(["merge-base", "--is-ancestor", waiting.commit, held], repo_dir)
            )
        ):
            reason = (
                f"{env.name} was rolled back from {held[:12]}: this commit is not deployed "
                "there again by itself; run this step to deploy it"
            )
            self._settle(session, waiting, step, "held", "paused", reason, finished=False)
            return "held", waiting.pipeline_id
        if (
            current is not None
            and waiting.kind == "deploy"
            and waiting.commit != current.commit
            and git_ok(["merge-base", "--is-ancestor", waiting.commit, current.commit], repo_dir)
        ):
            reason = (
                f"refused: {waiting.commit[:12]} is older than {current.commit[:12]}, which "
                f"{env.name} already runs; to go back on purpose, roll back "
                f"(shipline rollback REPO {env.name})"
            )
            self._settle(session, waiting, step, "refused", "failed", reason, finished=True)
            return "refused", waiting.pipeline_id
        waiting.status = "queued"
        session.execute(
            update(Step)
            .where(Step.id == step.id, Step.status == "waiting")
            .values(status="queued", queued_at=now())
        )
        return "queued", waiting.pipeline_id

    @staticmethod
    def _settle(
        session: Session,
        deployment: Deployment,
        step: Step,
        status: str,
        step_status: str,
        reason: str,
        *,
        finished: bool,
    ) -> None:
        deployment.status, deployment.reason, deployment.finished_at = status, reason, now()
        values: dict[str, Any] = {"status": step_status, "reason": reason}
        if finished:
            values["finished_at"] = now()
        session.execute(
            update(Step).where(Step.id == step.id, Step.status == "waiting").values(**values)
        )

    # ---- from the job service -----------------------------------------------------------

    def claimed(
        self, session: Session, step_id: int, snapshot: Snapshot, box: SecretBox
    ) -> int | None:
        """The step's worker started: the deployment runs, with these variables. Returns
        its id when it has just started (to announce once the transaction committed)."""
        deployment = self._of_step(session, step_id, BUSY)
        if deployment is None or deployment.status != "queued":
            return None
        deployment.status, deployment.started_at = "running", now()
        deployment.variables = snapshot.seal(box)
        self._record_changes(session, deployment)
        return deployment.id

    def _record_changes(self, session: Session, deployment: Deployment) -> None:
        """What this deployment brings to its environment: the commits since what runs
        there (for lead times) and the stories they reference (stories shipped)."""
        current = self.current(session, deployment.environment_id)
        old = current.commit if current is not None else None
        repo_dir = self._repo_dir(session, deployment.repository_id)
        try:
            commits = stories_between(repo_dir, old, deployment.commit)
            span = f"{old}..{deployment.commit}" if old else deployment.commit
            limit = ["-n", "1000"] if old else ["-n", "1"]
            log = git(["log", *limit, "--format=%H %cI", span], repo_dir)
        except ShiplineError as exc:  # unknown history: record nothing rather than fail
            logger.warning("deployment %s: cannot read its commits: %s", deployment.id, exc)
            return
        deployment.delivered = json.dumps([line.split(" ", 1) for line in log.splitlines()])
        deployment.stories = json.dumps(
            [
                {
                    "tracker": ref.tracker,
                    "id": ref.id,
                    "action": ref.action,
                    "commits": [c.sha for c in commits if ref in c.refs],
                }
                for ref in delivered_stories(commits)
            ]
        )

    def announce(self, deployment_id: int, status: str) -> None:
        for callback in self.on_deployment:
            callback(deployment_id, status)

    def snapshot_of(self, session: Session, pipeline: Pipeline, box: SecretBox) -> Snapshot | None:
        """For a redeploy or rollback: the variables the repeated deployment ran with."""
        if pipeline.redeploys is None:
            return None
        source = session.get(Deployment, pipeline.redeploys)
        if source is None or source.variables is None:
            return None
        return Snapshot.unseal(box, source.variables)

    def step_ended(self, step_id: int, status: str, plan_step_is_last: bool | None = None) -> None:
        """A deployment step finished (or will never run): end its deployment when it was
        the deployment's last step, then let the next one go."""
        env_id: int | None = None
        with self.db.session() as session:
            deployment = self._of_step(session, step_id, ("waiting", *BUSY))
            if deployment is None:
                return
            step = session.get(Step, step_id)
            pipeline = session.get(Pipeline, deployment.pipeline_id)
            assert step is not None
            assert pipeline is not None
            last = plan_step_is_last
            if last is None:
                last = self._last_of_deployment(pipeline, step)
            if status == "passed" and not last:
                return  # a stage goes on to its next step, still holding the lock
            final = {"passed": "passed", "failed": "failed"}.get(status, "cancelled")
            deployment.status, deployment.finished_at = final, now()
            if status not in ("passed", "failed"):
                deployment.reason = step.reason
            env = session.get(Environment, deployment.environment_id)
            assert env is not None
            if final == "passed":
                if deployment.kind == "rollback":
                    before = self._current_before(session, env.id, deployment.id)
                    env.rolled_back_commit = before.commit if before is not None else None
                else:
                    env.rolled_back_commit = None
            env_id, deployment_id = env.id, deployment.id
        self.announce(deployment_id, final)
        self.dispatch([env_id])

    def _last_of_deployment(self, pipeline: Pipeline, step: Step) -> bool:
        try:
            plan = self.compile_pipeline(pipeline).plan
            spec = plan.step(step.step_key)
        except (KeyError, ShiplineError):  # cannot tell: end it, so the lock is freed
            return True
        return stage_steps(plan, spec)[-1].id == spec.id

    def _of_step(
        self, session: Session, step_id: int, statuses: Iterable[str]
    ) -> Deployment | None:
        """The open deployment `step_id` belongs to (its own, or its stage's)."""
        own = session.scalar(
            select(Deployment).where(
                Deployment.step_id == step_id, Deployment.status.in_(list(statuses))
            )
        )
        if own is not None:
            return own
        step = session.get(Step, step_id)
        if step is None:
            return None
        return session.scalar(
            select(Deployment)
            .join(Step, Step.id == Deployment.step_id)
            .where(
                Deployment.pipeline_id == step.pipeline_id,
                Deployment.stage.is_not(None),
                Deployment.status.in_(list(statuses)),
            )
            .order_by(Deployment.id.desc())
            .limit(1)
        )

    # ---- reading ------------------------------------------------------------------------

    def current(self, session: Session, environment_id: int) -> Deployment | None:
        """What the environment runs now: its newest successful deployment."""
        return session.scalar(
            select(Deployment)
            .where(Deployment.environment_id == environment_id, Deployment.status == "passed")
            .order_by(Deployment.finished_at.desc(), Deployment.id.desc())
            .limit(1)
        )

    def _current_before(
        self, session: Session, environment_id: int, deployment_id: int
    ) -> Deployment | None:
        return session.scalar(
            select(Deployment)
            .where(
                Deployment.environment_id == environment_id,
                Deployment.status == "passed",
                Deployment.id != deployment_id,
            )
            .order_by(Deployment.finished_at.desc(), Deployment.id.desc())
            .limit(1)
        )

    def _repo_dir(self, session: Session, repository_id: int) -> Path:
        name = session.scalar(select(Repository.name).where(Repository.id == repository_id))
        return self.repos_dir / f"{name}.git"
