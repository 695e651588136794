"""End-to-end acknowledgement: a source batch is done when every delivery of it is settled."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["AckToken", "AckTracker"]


class AckToken:
    """Counts the outstanding deliveries of one source batch.

    Each hand-over to a consumer adds one; each sink write (or a stage dropping
    the batch on purpose) settles one. At zero the position goes back to the
    source's thread through ``completed``.
    """

    __slots__ = ("_lock", "completed", "pending", "position")

    def __init__(self, position: Any, completed: deque[Any]) -> None:
        self.position = position
        self.pending = 0
        self.completed = completed
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.pending += n

    def settle(self, n: int = 1) -> None:
        with self._lock:
            self.pending -= n
            done = self.pending == 0
        if done:
            self.completed.append(self.position)


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
