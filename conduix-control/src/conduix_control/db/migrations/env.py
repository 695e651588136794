"""Alembic environment: runs on the connection the control plane hands over (see ``conduix_control.db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from conduix_control.db.models import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # the ``alembic`` command line, with sqlalchemy.url set in its ini file
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///conduix-control.db")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
