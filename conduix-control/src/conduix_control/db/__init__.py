"""The control plane's database: SQLite by default, MySQL/MariaDB or PostgreSQL by URL; Alembic migrations."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from conduix_control.db import models
from conduix_control.errors import ControlError

__all__ = ["Database", "current_revision", "default_url", "migrate", "models"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def default_url() -> str:
    """``$CONDUIX_CONTROL_DB``, else a SQLite file ``conduix-control.db`` in the state directory."""
    state = Path(os.environ.get("CONDUIX_STATE_DIR") or ".conduix")
    return os.environ.get("CONDUIX_CONTROL_DB") or f"sqlite:///{state / 'conduix-control.db'}"


def _normalize(url: str) -> str:
    """Pick the drivers we ship for: PyMySQL for MySQL/MariaDB, psycopg 3 for PostgreSQL."""
    for plain, driver in (("mysql://", "mysql+pymysql://"), ("mariadb://", "mysql+pymysql://"),
                          ("postgresql://", "postgresql+psycopg://"), ("postgres://", "postgresql+psycopg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe to run from several instances at once
    only on PostgreSQL, whose DDL is transactional: start one control plane first elsewhere)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class Database:
    """An engine and a session factory for one database URL, migrated on :meth:`open`."""

    def __init__(self, url: str | None = None) -> None:
        self.url = _normalize(url or default_url())
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            self.engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # bad URL or missing driver: say which and how to fix it
            raise ControlError(f"cannot use database {self.url.split('@')[-1]!r}: {exc}; install the driver "
                               "(pip install 'conduix-control[mysql]' or '[postgresql]') and check the URL") from exc
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def open(self, *, attempts: int = 10) -> Database:
        """Run the migrations, retrying while the server starts up."""
        for attempt in range(1, attempts + 1):
            try:
                migrate(self.engine)
                break
            except Exception as exc:
                if attempt == attempts:
                    raise ControlError(f"cannot migrate database {self.url.split('@')[-1]!r}: {exc}") from exc
                logger.warning("database not ready (%s); retrying", exc)
                time.sleep(min(0.2 * 2**attempt, 3))
        logger.info("database %s at revision %s", self.url.split("@")[-1], current_revision(self.engine))
        return self

    def session(self) -> Session:
        return self.sessions()

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
