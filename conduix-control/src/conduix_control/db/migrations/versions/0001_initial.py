"""Initial schema: pipelines and versions, agents, assignments, runs, schedules, commands, leases.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _times(*names: str, nullable: bool = False) -> list[sa.Column]:
    return [sa.Column(name, sa.Double(), nullable=nullable) for name in names]


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("desired", sa.String(20), nullable=False),
        sa.Column("lease_seq", sa.BigInteger(), nullable=False),
        *_times("created_at", "updated_at"),
    )
    op.create_table(
        "pipeline_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), sa.ForeignKey("pipelines.name", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("comment", sa.String(500), nullable=True),
        *_times("created_at"),
        sa.UniqueConstraint("pipeline", "version", name="uq_pipeline_version"),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        *_times("last_heartbeat", "registered_at"),
        sa.Column("info", sa.JSON(), nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), sa.ForeignKey("pipelines.name", ondelete="CASCADE"), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        *_times("created_at", "updated_at"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False, index=True),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("records_in", sa.BigInteger(), nullable=False),
        sa.Column("records_out", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parent_run_id", sa.Integer(), nullable=True),
        *_times("started_at"),
        *_times("ended_at", nullable=True),
        *_times("updated_at"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), sa.ForeignKey("pipelines.name", ondelete="CASCADE"), nullable=False),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_fire", sa.BigInteger(), nullable=True),
        *_times("created_at"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.Integer(), sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("fire_time", sa.BigInteger(), nullable=False),
        sa.Column("fired_by", sa.String(200), nullable=False),
        *_times("created_at"),
        sa.UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fire"),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agent_id", sa.String(200), nullable=False, index=True),
        sa.Column("pipeline", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(20), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        *_times("created_at"),
        *_times("sent_at", "acked_at", nullable=True),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        *_times("expires_at"),
    )


def downgrade() -> None:
    for table in ("leases", "commands", "schedule_fires", "schedules", "runs", "assignments", "agents",
                  "pipeline_versions", "pipelines"):
        op.drop_table(table)
