"""The Alembic migrations create the schema on SQLite, MariaDB and PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from conduix_control.db import MIGRATIONS, Database, current_revision
from conduix_control.db.models import Base, Pipeline, PipelineVersion

TABLES = ["agents", "alembic_version", "api_tokens", "assignments", "audit_events", "commands", "leases",
          "login_failures", "pipeline_versions", "pipelines", "runs", "schedule_fires", "schedules", "secrets",
          "user_sessions", "users"]


def check_database(url: str) -> None:
    db = Database(url).open()
    try:
        assert db.tables() == TABLES
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert current_revision(db.engine) == head
        db.open()  # migrating again is a no-op
        assert current_revision(db.engine) == head
        with db.engine.connect() as conn:  # the models and the migrations describe the same schema
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert not [d for d in diffs if d[0] not in ("modify_nullable",)], diffs
        with db.session() as s:  # and it is usable: a row with JSON and a double round-trips
            s.add(Pipeline(name="p", current_version=1, replicas=2, labels={"zone": "eu"}, desired="stopped",
                           lease_seq=0, created_at=1795730000.123456, updated_at=1795730000.123456))
            s.add(PipelineVersion(pipeline="p", version=1, yaml="version: 1\n", created_at=1.0))
            s.commit()
        with db.session() as s:
            row = s.scalars(select(Pipeline)).one()
            assert row.labels == {"zone": "eu"}
            assert abs(row.created_at - 1795730000.123456) < 1e-5
    finally:
        db.close()


def test_migrations_on_sqlite(tmp_path: Path) -> None:
    check_database(f"sqlite:///{tmp_path / 'c.db'}")


@pytest.mark.integration("postgresql")
def test_migrations_on_postgresql(postgres_url: str) -> None:
    check_database(postgres_url)


@pytest.mark.integration("mariadb")
def test_migrations_on_mariadb(mariadb_url: str) -> None:
    check_database(mariadb_url)
