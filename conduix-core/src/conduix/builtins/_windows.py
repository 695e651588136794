"""The state behind ``aggregate``: open windows, per-group states, and the log of delivered windows that lets a
restarted stage recognise records replayed from before its last delivered window."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

__all__ = ["DeliveryLog", "Group", "Window"]

logger = logging.getLogger(__name__)


class Group:
    """The group's field values as in its first record (for the output) and one state per aggregation."""

    __slots__ = ("states", "values")

    def __init__(self, values: list[Any], states: list[list[Any]]) -> None:
        self.values = values
        self.states = states


class Window:
    """One open window: its bounds, the state per group, and the acknowledgements it holds."""

    __slots__ = ("end", "groups", "held", "key", "start")

    def __init__(self, start: float, end: float, key: tuple[Any, ...] | None = None) -> None:
        self.key = key
        """The group of a session window (None for tumbling and hopping ones, shared by every group)."""
        self.start = start
        self.end = end
        self.groups: dict[tuple[Any, ...], Group] = {}
        self.held: list[Any] = []


class DeliveryLog:
    """Remembers, in a small file, the end T such that every window ending at or before T was written by every
    sink. Windows are emitted in order of their end, so after a crash a replayed record whose windows all end
    at or before T was already counted in a delivered window, and is skipped instead of counted twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replayed_before = -math.inf
        """T as saved by the previous run (what replayed records are compared with)."""
        self._saved = -math.inf
        self._pending: deque[list[Any]] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def load(self) -> None:
        if not self.path.exists():
            return
        try:
            self.replayed_before = self._saved = float(json.loads(self.path.read_text())["delivered_before"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring the unreadable aggregate state %s: %s", self.path, exc)

    def marker(self, end: float) -> _Delivered:
        """An acknowledgement handle to put on the window's output batch."""
        marker = _Delivered(self, [end, False])
        with self._lock:
            self._pending.append(marker.entry)
        return marker

    def delivered(self, entry: list[Any]) -> None:
        with self._lock:
            entry[1] = True
            before = self._saved
            while self._pending and self._pending[0][1]:
                before = max(before, self._pending.popleft()[0])
            if self._closed or before <= self._saved:
                return
            self._saved = before
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"delivered_before": before}))
            os.replace(tmp, self.path)

    def discard(self) -> None:
        """Everything was emitted and will be checkpointed: no replay needs recognising any more."""
        with self._lock:
            self._closed = True
            self.path.unlink(missing_ok=True)


class _Delivered:
    """Rides along a window's output like a source's acknowledgement handle: at zero every sink wrote it."""

    __slots__ = ("entry", "log", "pending")

    def __init__(self, log: DeliveryLog, entry: list[Any]) -> None:
        self.log = log
        self.entry = entry
        self.pending = 0

    def add(self, n: int) -> None:
        with self.log._lock:
            self.pending += n

    def settle(self, n: int = 1) -> None:
        with self.log._lock:
            self.pending -= n
            done = self.pending == 0
        if done:
            self.log.delivered(self.entry)
