"""What every benchmark measures the same way: wall-clock and CPU time, best of rounds in alternating order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Timing:
    """Wall-clock and CPU seconds (this process, every thread) of a ``with measure() as t:`` block."""

    wall = cpu = 0.0


@contextmanager
def measure() -> Iterator[Timing]:
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    yield timing
    timing.wall, timing.cpu = time.perf_counter() - wall, time.process_time() - cpu


def alternating(sides: dict[str, Callable[[int], Timing]], rounds: int) -> dict[str, Timing]:
    """Run every side ``rounds`` times (given the round number), the order reversed every other round
    (a server that slows as it fills, or a burst of load, then hits both sides alike); the best wall-clock
    and the best CPU time of each side."""
    best: dict[str, Timing] = {}
    for round_ in range(rounds):
        for side in (list(sides) if round_ % 2 == 0 else list(reversed(sides))):
            timing = sides[side](round_)
            old = best.setdefault(side, Timing())
            old.wall = min(old.wall or timing.wall, timing.wall)
            old.cpu = min(old.cpu or timing.cpu, timing.cpu)
    return best


def result(name: str, n: int, ours: Timing, base: Timing, **details: Any) -> dict[str, Any]:
    """The result dict of ``run.py`` for ``n`` records: rates, per CPU-second rates, ratios."""
    return {"name": name, "conduix_rps": n / ours.wall, "baseline_rps": n / base.wall, "ratio": base.wall / ours.wall,
            "conduix_cpu_rps": n / ours.cpu, "baseline_cpu_rps": n / base.cpu, "cpu_ratio": base.cpu / ours.cpu,
            "records": n, **details}
