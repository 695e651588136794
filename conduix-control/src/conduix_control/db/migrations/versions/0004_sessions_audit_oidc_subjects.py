"""Server-side sessions, failed sign-ins (throttling), the audit log, token expiry, OIDC users keyed on
issuer + subject (OIDC users stored before are removed: they are created again at their next sign-in).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    users = sa.table("users", sa.column("source", sa.String))
    # they were keyed on preferred_username or email, which another account of the provider may claim
    op.execute(users.delete().where(users.c.source == "oidc"))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("issuer", sa.String(400), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(255), nullable=True))
        batch.create_unique_constraint("uq_user_issuer_subject", ["issuer", "subject"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.Double(), nullable=True))
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(200), nullable=False, index=True),
        sa.Column("remote", sa.String(100), nullable=True, index=True),
        sa.Column("at", sa.Double(), nullable=False, index=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double(), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False, index=True),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("via", sa.String(20), nullable=True),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", sa.String(500), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("remote", sa.String(100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("login_failures")
    op.drop_table("user_sessions")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_user_issuer_subject", type_="unique")
        batch.drop_column("subject")
        batch.drop_column("issuer")
