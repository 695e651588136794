"""Agent tokens are bound to one agent id (existing agent tokens: the id their name gives).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(200), nullable=True))
    tokens = sa.table("api_tokens", sa.column("role", sa.String), sa.column("name", sa.String),
                      sa.column("agent_id", sa.String))
    # the documented way was `tokens create worker-1 --role agent` for `agent start --agent-id worker-1`
    op.execute(tokens.update().where(tokens.c.role == "agent").values(agent_id=tokens.c.name))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("agent_id")
