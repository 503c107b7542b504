"""Tables of the server. Changing them means adding an Alembic migration under migrations/."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    """What a user may do; each role includes the ones below it."""

    ADMIN = "admin"
    DEPLOYER = "deployer"  # a developer who may also run manual deployments and roll back
    DEVELOPER = "developer"
    VIEWER = "viewer"

    def allows(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.DEVELOPER, Role.DEPLOYER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # scrypt; None: tokens only

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A secret a user authenticates with; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_build_number: Mapped[int] = mapped_column(Integer, default=0)
    # A mirror of a repository hosted elsewhere: webhooks fetch from here.
    remote_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # encrypted (SecretBox)
    tracker_webhook: Mapped[str | None] = mapped_column(Text)  # encrypted: stories shipped

    pipelines: Mapped[list[Pipeline]] = relationship(back_populates="repository")


class Pipeline(Base):
    __tablename__ = "pipelines"
    __table_args__ = (
        UniqueConstraint("repository_id", "build_number"),
        Index("ix_pipelines_repository_ref", "repository_id", "ref_name", "build_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    build_number: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(20))  # push, webhook, manual, custom, schedule
    ref_type: Mapped[str] = mapped_column(String(20))  # branch, tag, pull_request, custom
    ref_name: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str] = mapped_column(String(64))
    pipeline_key: Mapped[str] = mapped_column(String(255))  # "default", "branches.main", ...
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The event the plan is compiled for (shipline.server.events): compiling is pure, so the
    # plan itself is never stored.
    event: Mapped[str] = mapped_column(Text, default="{}")
    triggered_by: Mapped[str] = mapped_column(String(100), default="")
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    rerun_of: Mapped[int | None] = mapped_column(Integer)  # build number it repeats
    # A redeploy or rollback: this pipeline runs again only the deployment `redeploys` ran
    # (the plan item holding step `only_step`), with that deployment's artifacts and variables.
    redeploys: Mapped[int | None] = mapped_column(Integer)
    only_step: Mapped[str | None] = mapped_column(String(50))

    repository: Mapped[Repository] = relationship(back_populates="pipelines")
    steps: Mapped[list[Step]] = relationship(
        back_populates="pipeline", order_by="Step.number", cascade="all, delete-orphan"
    )


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("pipeline_id", "step_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    step_key: Mapped[str] = mapped_column(String(50))  # the plan's step id, e.g. "step-3"
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # a rerun is a new attempt
    queued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(100))  # who ran a manual step
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    stop_reason: Mapped[str | None] = mapped_column(Text)  # a stop was asked for (fail-fast)
    # The lease: which worker runs this attempt, until when, with which job token.
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    job_token_hash: Mapped[str | None] = mapped_column(String(64))
    lost_count: Mapped[int] = mapped_column(Integer, default=0)  # attempts whose worker vanished
    artifact_count: Mapped[int] = mapped_column(Integer, default=0)

    pipeline: Mapped[Pipeline] = relationship(back_populates="steps")


class Variable(Base):
    """A repository variable; a secured one's value is encrypted and never returned."""

    __tablename__ = "variables"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)  # clear text, or a SecretBox token when secured
    secured: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """A forge's delivery, kept so that a redelivery of the same event starts nothing new."""

    __tablename__ = "webhook_deliveries"
    # Per repository: GitHub gives every webhook subscribed to one event the same GUID.
    __table_args__ = (UniqueConstraint("repository_id", "forge", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    forge: Mapped[str] = mapped_column(String(20))
    delivery_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(Text, default="")


class Environment(Base):
    """Where deployments go (`deployment: staging`); made when a pipeline first names it."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # test, staging, production
    position: Mapped[int] = mapped_column(Integer)  # board order: test, staging, production
    # A newer deployment waiting for this environment replaces older waiting ones.
    supersede: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rolled back from this commit: it is not deployed again by itself, only by a click.
    rolled_back_commit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Deployment(Base):
    """One deployment: what ran where, from which pipeline, who asked, how it ended."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_environment_status", "environment_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str | None] = mapped_column(String(255))  # a stage deploys as one
    commit: Mapped[str] = mapped_column(String(64))
    # waiting, queued, running, passed, failed, cancelled, superseded, refused, held
    status: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="deploy")  # deploy, redeploy, rollback
    triggered_by: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    source_id: Mapped[int | None] = mapped_column(Integer)  # the deployment it repeats
    variables: Mapped[str | None] = mapped_column(Text)  # encrypted JSON snapshot
    stories: Mapped[str] = mapped_column(Text, default="[]")  # JSON: stories it delivered
    # JSON [[sha, committed_at], ...]: commits it brought to the environment (for DORA)
    delivered: Mapped[str] = mapped_column(Text, default="[]")
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DeploymentVariable(Base):
    """A variable of one environment; it overrides the repository variable of that name."""

    __tablename__ = "deployment_variables"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    secured: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationTarget(Base):
    """An Apprise URL (encrypted: it holds tokens) and the events it is told about."""

    __tablename__ = "notification_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    kinds: Mapped[str] = mapped_column(Text)  # comma-separated NotificationKind values
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StatusTargetRow(Base):
    """Where commit statuses go: a forge's API, a project there, a token (encrypted)."""

    __tablename__ = "status_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    forge: Mapped[str] = mapped_column(String(20))
    project: Mapped[str] = mapped_column(String(255))
    base_url: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(String(100), default="shipline")
    last_error: Mapped[str] = mapped_column(Text, default="")


class Announcement(Base):
    """Something the announcer has still to tell the outside world: written when it is
    handed over, deleted once sent, so a server that stops first sends it at its next start."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # "statuses" or "messages"
    subject: Mapped[str] = mapped_column(String(16))  # "pipeline" or "deployment"
    subject_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
