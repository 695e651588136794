"""Functions the test pipelines call through the ``python`` stage."""

from __future__ import annotations

import time
from typing import Any


def slow(records: list[dict[str, Any]], delay: float = 0.05) -> list[dict[str, Any]]:
    """Batch mode: hold each batch a little, so a test can act while a pipeline is mid-stream."""
    time.sleep(delay)
    return records
