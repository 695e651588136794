"""The control plane's tables (SQLAlchemy 2). Times are Unix seconds (``DOUBLE``), portable across backends.

The schema is created and changed only by the Alembic migrations in ``conduix_control/db/migrations``;
a test checks the models and the migrations agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "MAX_BIG",
    "MAX_ID",
    "Agent",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "Command",
    "Lease",
    "LoginFailure",
    "Pipeline",
    "PipelineVersion",
    "Run",
    "Schedule",
    "ScheduleFire",
    "Secret",
    "User",
    "UserSession",
]


#: the largest value an ``Integer`` column holds on every backend (PostgreSQL's and MySQL's INT): ids and
#: versions beyond it name nothing, and the API answers 422 for them instead of a database error
MAX_ID = 2**31 - 1
#: the same for ``BigInteger`` columns (counters)
MAX_BIG = 2**63 - 1


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, float: Double}


class Pipeline(Base):
    __tablename__ = "pipelines"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    replicas: Mapped[int] = mapped_column(Integer, default=1)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    desired: Mapped[str] = mapped_column(String(20), default="stopped")  # running | stopped | paused
    lease_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # last fencing token handed out
    created_at: Mapped[float]
    updated_at: Mapped[float]


class PipelineVersion(Base):
    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline", "version", name="uq_pipeline_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(200), ForeignKey("pipelines.name", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[float]


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    capacity: Mapped[int] = mapped_column(Integer, default=4)
    mode: Mapped[str] = mapped_column(String(20), default="rest")  # redis | hybrid | rest
    status: Mapped[str] = mapped_column(String(20), default="online")  # online | offline
    last_heartbeat: Mapped[float]
    registered_at: Mapped[float]
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Assignment(Base):
    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(200), ForeignKey("pipelines.name", ondelete="CASCADE"))
    replica: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    token: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | released | lost | completed
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[float]
    updated_at: Mapped[float]


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(200), index=True)
    replica: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    # pending | running | paused (supervision gave up; resumes by itself) | succeeded | failed | stopped | lost
    # | fenced | lease_expired
    status: Mapped[str] = mapped_column(String(20))
    records_in: Mapped[int] = mapped_column(BigInteger, default=0)
    records_out: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # per component, latest report
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # a child run's parameters
    started_at: Mapped[float]
    ended_at: Mapped[float | None] = mapped_column(nullable=True)
    updated_at: Mapped[float]


class Schedule(Base):
    __tablename__ = "schedules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(200), ForeignKey("pipelines.name", ondelete="CASCADE"))
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_fire: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[float]


class ScheduleFire(Base):
    """One row per (schedule, fire time): the unique constraint makes each tick fire once, across leaders."""

    __tablename__ = "schedule_fires"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fire"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(Integer, ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_time: Mapped[int] = mapped_column(BigInteger)
    fired_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float]


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(200), index=True)
    pipeline: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # start | stop | pause | resume | restart
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), index=True)  # pending | sent | acked | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    via: Mapped[str | None] = mapped_column(String(20), nullable=True)  # how the agent received it
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float]
    sent_at: Mapped[float | None] = mapped_column(nullable=True)
    acked_at: Mapped[float | None] = mapped_column(nullable=True)


class Lease(Base):
    """A named lease (the scheduler's leadership) with a token that grows with every new holder."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float]


class User(Base):
    """A person who signs in: the local admin (password) or someone from the OIDC provider (no password), who
    is the provider's ``issuer`` + ``subject`` (``username`` is only what they are shown as)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", name="uq_user_username"),
                      UniqueConstraint("issuer", "subject", name="uq_user_issuer_subject"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    role: Mapped[str] = mapped_column(String(20))  # viewer | editor | admin
    source: Mapped[str] = mapped_column(String(20))  # local | oidc
    created_at: Mapped[float]
    last_login_at: Mapped[float | None] = mapped_column(nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(400), nullable=True)  # OIDC users: the provider's iss
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)  # and its sub for them


class UserSession(Base):
    """A signed-in browser; its cookie holds the secret whose SHA-256 is ``id``. Deleted at logout."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[float]
    expires_at: Mapped[float]


class LoginFailure(Base):
    """A failed sign-in (for throttling): the user name tried and where from."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    remote: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    at: Mapped[float] = mapped_column(index=True)


class AuditEvent(Base):
    """Who changed what: one row per change made through the API, sign-in and token event."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)  # a user name, token:NAME or cli
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    via: Mapped[str | None] = mapped_column(String(20), nullable=True)  # session | token | cli
    action: Mapped[str] = mapped_column(String(200))  # "PUT /pipelines/{name}", "login", ...
    target: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the concrete path or object
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the HTTP status answered
    remote: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the client's address
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ApiToken(Base):
    """A bearer token for automation and agents; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_token_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a token in lists
    token_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(20))  # viewer | editor | admin | agent
    agent_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # role agent: the one agent it is for
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float]
    last_used_at: Mapped[float | None] = mapped_column(nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(nullable=True)
    expires_at: Mapped[float | None] = mapped_column(nullable=True)  # None: until revoked


class Secret(Base):
    """Generated secrets every control plane instance shares (the session-signing key)."""

    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float]
