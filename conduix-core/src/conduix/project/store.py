"""Run bookkeeping: every run's id, pipeline, parameters, parent run, status, counts and error.

Kept in ``<state_dir>/runs.sqlite`` (stdlib sqlite3, WAL) so ``conduix runs`` and
``conduix retry`` see the runs of earlier processes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from conduix.errors import ConfigError

__all__ = ["RunRecord", "RunStore"]

_COLUMNS = ("id", "pipeline", "project", "parameters", "parent_run", "status", "attempt", "records_in",
            "records_out", "error", "started", "ended", "errors")


@dataclass
class RunRecord:
    id: str
    pipeline: str
    project: str | None
    parameters: dict[str, Any]
    parent_run: str | None
    status: str
    attempt: int
    records_in: int
    records_out: int
    error: str | None
    started: float | None
    ended: float | None
    errors: dict[str, int]
    """Records each component failed on (only components with errors), as in ``conduix run``'s summary."""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS}


class RunStore:
    def __init__(self, state_dir: str | Path) -> None:
        path = Path(state_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / "runs.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS runs (
            id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, project TEXT, parameters TEXT NOT NULL,
            parent_run TEXT, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,
            records_in INTEGER NOT NULL DEFAULT 0, records_out INTEGER NOT NULL DEFAULT 0, error TEXT,
            started REAL, ended REAL, created REAL NOT NULL)""")
        self._db.execute("CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_run)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "errors" not in columns:  # a store written before runs recorded their errors
            self._db.execute("ALTER TABLE runs ADD COLUMN errors TEXT")

    def create(self, pipeline: str, parameters: dict[str, Any], *, parent_run: str | None = None,
               project: str | None = None) -> str:
        run_id = uuid.uuid4().hex[:12]
        with self._lock:
            self._db.execute("INSERT INTO runs (id, pipeline, project, parameters, parent_run, status, created) "
                             "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                             (run_id, pipeline, project, orjson.dumps(parameters, default=str).decode(),
                              parent_run, time.time()))
        return run_id

    def started(self, run_id: str, attempt: int) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET status = 'running', attempt = ?, started = ?, ended = NULL, "
                             "error = NULL WHERE id = ?", (attempt, time.time(), run_id))

    def ended(self, run_id: str, status: str, *, records_in: int = 0, records_out: int = 0,
              error: str | None = None, errors: dict[str, int] | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET status = ?, records_in = ?, records_out = ?, error = ?, ended = ?, "
                             "errors = ? WHERE id = ?", (status, records_in, records_out, error, time.time(),
                                                        orjson.dumps(errors or {}).decode(), run_id))

    def get(self, run_id: str) -> RunRecord:
        rows = self.list(run_id=run_id)
        if not rows:
            raise ConfigError(f"no run {run_id!r} in {self.path}", hint="see `conduix runs` for run ids")
        return rows[0]

    def list(self, *, status: str | None = None, pipeline: str | None = None, run_id: str | None = None,
             parent_run: str | None = None) -> list[RunRecord]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        where, args = [], []
        for column, value in (("status", status), ("pipeline", pipeline), ("id", run_id),
                              ("parent_run", parent_run)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created, id", args).fetchall()
        return [RunRecord(**{**dict(zip(_COLUMNS, row)), "parameters": orjson.loads(row[3]),
                             "errors": orjson.loads(row[12] or "{}")}) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
