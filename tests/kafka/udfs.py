"""Functions for the ``python`` stages of the Kafka tests' pipelines."""

from __future__ import annotations

import time
from typing import Any


def slow(records: list[dict[str, Any]], delay: float = 0.05) -> list[dict[str, Any]]:
    """Pass the batch on after ``delay`` seconds: keeps a pipeline mid-stream long enough to kill it."""
    time.sleep(delay)
    return records
