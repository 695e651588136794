"""A primary store (Redis) that falls back to a local one while it is down, then reconciles."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import pybreaker

from conduix.checkpoint.base import Checkpoint, CheckpointStore, StoreUnavailableError, merge_checkpoints
from conduix.errors import CheckpointError

__all__ = ["FallbackCheckpointStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class FallbackCheckpointStore(CheckpointStore):
    """Write through to a local ``fallback`` store, and to ``primary`` whenever it answers.

    Every checkpoint is saved to ``fallback`` first (a local file, so a worker
    restarted during an outage still resumes from its latest position). While
    ``primary`` is unavailable (refused, timed out) a circuit breaker stops
    asking it for ``retry_after`` seconds, so a paused server does not slow every
    save; the run goes on. When ``primary`` answers again the two copies are
    reconciled: per source the entry with the newest ``timestamp`` wins, and the
    merged checkpoint is written to ``primary``.
    """

    def __init__(self, primary: CheckpointStore, fallback: CheckpointStore, *, retry_after: float = 5.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=retry_after,
            exclude=[lambda exc: not isinstance(exc, StoreUnavailableError)],
            name=f"checkpoint primary {primary!r}",
        )
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._degraded = False

    @property
    def degraded(self) -> bool:
        """True while the primary store is considered unavailable."""
        return self._degraded

    @property
    def pending(self) -> set[str]:
        """Pipelines whose latest checkpoint the primary store has not seen yet."""
        with self._lock:
            return set(self._pending)

    def _primary(self, what: str, func: Callable[[], T]) -> T:
        """Run ``func`` against the primary; raise StoreUnavailableError when it is down or skipped."""
        try:
            result = self._breaker.call(func)
        except pybreaker.CircuitBreakerError as exc:
            self._mark_down(what, exc)
            raise StoreUnavailableError(f"{self.primary!r} is unavailable: {exc}") from exc
        except StoreUnavailableError as exc:
            self._mark_down(what, exc)
            raise
        if self._degraded:
            self._degraded = False
            logger.warning("%r is available again; reconciling checkpoints written meanwhile", self.primary)
            self._reconcile_pending()
        return result

    def _mark_down(self, what: str, exc: BaseException) -> None:
        if not self._degraded:
            self._degraded = True
            logger.warning(
                "%r is unavailable during %s (%s); checkpoints go to %r until it returns (retry every %.1f s)",
                self.primary, what, exc, self.fallback, self._breaker.reset_timeout,
            )

    def _reconcile_pending(self) -> None:
        for pipeline_id in sorted(self.pending):
            try:
                self.reconcile(pipeline_id)
            except StoreUnavailableError:
                return
            except CheckpointError as exc:
                logger.error("cannot reconcile the checkpoint of %s: %s", pipeline_id, exc)

    def reconcile(self, pipeline_id: str) -> Checkpoint | None:
        """Merge the local and primary checkpoints (newest wins per source) and write the result to both.

        Raises StoreUnavailableError when the primary store cannot be reached.
        """
        return self._primary("reconcile", lambda: self._reconcile(pipeline_id))

    def _reconcile(self, pipeline_id: str) -> Checkpoint | None:
        local = self.fallback.load(pipeline_id)
        remote = self.primary.load(pipeline_id)
        merged = merge_checkpoints(remote, local)
        if merged is not None and merged != remote:
            self.primary.save(pipeline_id, merged)
            logger.info("reconciled checkpoint of %s into %r", pipeline_id, self.primary)
        if merged is not None and merged != local:
            self.fallback.save(pipeline_id, merged)
        with self._lock:
            self._pending.discard(pipeline_id)
        return merged

    def load(self, pipeline_id: str) -> Checkpoint | None:
        try:
            return self._primary("load", lambda: self._reconcile(pipeline_id))
        except StoreUnavailableError:
            logger.info("loading checkpoint of %s from %r: the primary store is unavailable",
                        pipeline_id, self.fallback)
            return self.fallback.load(pipeline_id)

    def save(self, pipeline_id: str, checkpoint: Checkpoint) -> None:
        self.fallback.save(pipeline_id, checkpoint)
        with self._lock:
            pending = pipeline_id in self._pending
            self._pending.add(pipeline_id)
        try:
            if pending:
                self._primary("save", lambda: self._reconcile(pipeline_id))
            else:
                self._primary("save", lambda: self.primary.save(pipeline_id, checkpoint))
        except StoreUnavailableError:
            return
        with self._lock:
            self._pending.discard(pipeline_id)

    def delete(self, pipeline_id: str) -> None:
        self.fallback.delete(pipeline_id)
        with self._lock:
            self._pending.discard(pipeline_id)
        try:
            self._primary("delete", lambda: self.primary.delete(pipeline_id))
        except StoreUnavailableError as exc:
            raise CheckpointError(
                f"deleted the local checkpoint of {pipeline_id} but not the one in {self.primary!r}: {exc}; "
                "run the reset again when it is reachable"
            ) from exc

    def list(self) -> list[str]:
        local = set(self.fallback.list())
        try:
            remote = set(self._primary("list", self.primary.list))
        except StoreUnavailableError:
            remote = set()
        return sorted(local | remote)

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()

    def __repr__(self) -> str:
        return f"FallbackCheckpointStore({self.primary!r}, {self.fallback!r})"
