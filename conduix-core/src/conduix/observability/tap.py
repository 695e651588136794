"""Live taps: a bounded sample of the records flowing out of a component, for ``conduix tap``."""

from __future__ import annotations

import queue
from typing import Any

import orjson

__all__ = ["Tap"]

PER_BATCH = 10
"""At most this many records of one batch go to a tap: a sample, cheap for the pipeline."""


class Tap:
    """Receives JSON-encoded samples; the pipeline never blocks on it (full means skipped)."""

    def __init__(self, output: str | None = None, capacity: int = 1000) -> None:
        self.output = output
        self.samples: queue.Queue[bytes] = queue.Queue(maxsize=capacity)
        self.skipped = 0

    def offer(self, records: list[dict[str, Any]], output: str | None) -> None:
        if output != self.output:
            return
        for record in records[:PER_BATCH]:
            try:
                self.samples.put_nowait(orjson.dumps(record, default=str))
            except queue.Full:
                self.skipped += 1
                return
