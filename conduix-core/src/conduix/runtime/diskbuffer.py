"""A sink's on-disk buffer: batches in a SQLite file (WAL, synchronous=FULL), drained in order."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from conduix.components import Batch
from conduix.errors import ConduixError

__all__ = ["DiskBuffer"]


class DiskBuffer:
    """Append batches, read the oldest, delete it once written. Safe for one writer and one reader thread.

    A batch is durable once :meth:`append` returns (the transaction is synced), so
    the runtime acknowledges it upstream there; a restart finds what was not yet
    written and drains it first.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        import sqlite3  # here: only pipelines with a disk buffer load it (start-up of the others)

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "size INTEGER NOT NULL, data BLOB NOT NULL)")
            row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM batches").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConduixError(f"disk buffer {path} cannot be opened: {exc}; move the file away to start "
                               "with an empty buffer (its batches are then lost)") from exc
        self.count, self.bytes = int(row[0]), int(row[1])

    def has_room(self) -> bool:
        return self.bytes < self.max_bytes

    def append(self, batch: Batch) -> None:
        data = orjson.dumps({"records": batch.records, "meta": batch.meta,
                             "position": batch.position}, default=str)
        with self._lock:
            self._db.execute("INSERT INTO batches (size, data) VALUES (?, ?)", (len(data), data))
            self.count += 1
            self.bytes += len(data)
            self._changed.notify_all()

    def wait_for_room(self, timeout: float) -> bool:
        with self._lock:
            if self.bytes < self.max_bytes:
                return True
            self._changed.wait(timeout)
            return self.bytes < self.max_bytes

    def wait_for_data(self, timeout: float) -> bool:
        with self._lock:
            if self.count:
                return True
            self._changed.wait(timeout)
            return self.count > 0

    def oldest(self) -> tuple[int, int, Batch] | None:
        with self._lock:
            row = self._db.execute("SELECT id, size, data FROM batches ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        data: dict[str, Any] = orjson.loads(row[2])
        position = data["position"]
        return row[0], row[1], Batch(data["records"], data["meta"],
                                     position=tuple(position) if isinstance(position, list) else position)

    def delete(self, entry_id: int, size: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM batches WHERE id = ?", (entry_id,))
            self.count -= 1
            self.bytes -= size
            self._changed.notify_all()

    def close(self) -> None:
        with self._lock:
            self._db.close()
