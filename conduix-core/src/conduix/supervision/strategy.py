"""Restart decisions, free of actors: which children, whether the budget allows it, how long to wait."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence

from conduix.supervision.spec import BackoffSpec, Strategy

__all__ = ["Backoff", "RestartBudget", "children_to_restart"]


def children_to_restart(strategy: Strategy, order: Sequence[str], failed: str) -> list[str]:
    """The children to restart, in start order, when ``failed`` failed.

    ``one_for_one``: only the failed child. ``one_for_all``: every child.
    ``rest_for_one``: the failed child and the children started after it.
    """
    if failed not in order:
        raise ValueError(f"{failed!r} is not one of the children {list(order)!r}")
    if strategy == "one_for_one":
        return [failed]
    if strategy == "one_for_all":
        return list(order)
    if strategy == "rest_for_one":
        return list(order[order.index(failed):])
    raise ValueError(f"unknown strategy {strategy!r}")


class RestartBudget:
    """At most ``max_restarts`` restarts within any ``within_seconds`` window."""

    def __init__(self, max_restarts: int, within_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.within_seconds = within_seconds
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.within_seconds:
            self._times.popleft()

    def used(self, now: float) -> int:
        """Restarts recorded within the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def try_restart(self, now: float) -> bool:
        """Record a restart at ``now`` if the budget allows one; False means: give up."""
        self._expire(now)
        if len(self._times) >= self.max_restarts:
            return False
        self._times.append(now)
        return True

    def reset(self) -> None:
        self._times.clear()


class Backoff:
    """Exponential restart delays with optional jitter."""

    def __init__(self, spec: BackoffSpec, rng: random.Random | None = None) -> None:
        self.spec = spec
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (0-based) of the current window."""
        spec = self.spec
        base = min(spec.max, spec.initial * spec.multiplier ** max(attempt, 0))
        if spec.jitter:
            base *= 1 + self._rng.uniform(-spec.jitter, spec.jitter)
        return max(0.0, base)
