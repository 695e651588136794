"""End-to-end acknowledgement: a source batch is done when every delivery of it is settled."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["AckToken", "AckTracker", "Nack"]


class Nack:
    """What goes back to a source for a batch that will not be written by this run (see ``Source.nack``)."""

    __slots__ = ("error", "position")

    def __init__(self, position: Any, error: BaseException | str) -> None:
        self.position = position
        self.error = error


class AckToken:
    """Counts the outstanding deliveries of one source batch.

    Each hand-over to a consumer adds one; each sink write (or a stage dropping
    the batch on purpose) settles one. At zero the position goes back to the
    source's thread through ``completed`` (the token itself), as a :class:`Nack`
    when a delivery failed (:meth:`fail`).
    """

    __slots__ = ("_lock", "completed", "error", "pending", "position", "records")

    def __init__(self, position: Any, completed: deque[Any], records: int = 0) -> None:
        self.position = position
        self.records = records
        """Records the source batch holds (for the checkpoint's ``processed_count``)."""
        self.pending = 0
        self.completed = completed
        self.error: BaseException | str | None = None
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.pending += n

    def settle(self, n: int = 1) -> None:
        with self._lock:
            self.pending -= n
            done = self.pending == 0
        if done:
            self.completed.append(self if self.error is None else Nack(self.position, self.error))

    def fail(self, error: BaseException | str) -> None:
        """One delivery will not be written (the first error is kept); the batch goes back as a :class:`Nack`."""
        with self._lock:
            if self.error is None:
                self.error = error
        self.settle()


class AckTracker:
    """Highest position below which everything was acknowledged, for ordered positions.

    Sources with sequential positions (line numbers, offsets) use it to turn
    out-of-order acks into a checkpointable watermark.
    """

    def __init__(self, start: int = 0) -> None:
        self.watermark = start
        self._starts: dict[int, int] = {}

    def acknowledge(self, first: int, end: int) -> int:
        """Records ``first`` up to (not including) ``end`` are done; returns the new watermark."""
        self._starts[first] = end
        while self.watermark in self._starts:
            self.watermark = self._starts.pop(self.watermark)
        return self.watermark
