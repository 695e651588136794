"""A python-stage function for the crash tests of the Elasticsearch and S3 sinks: pauses per batch
(``CONDUIX_TEST_PAUSE`` seconds) and, with ``CONDUIX_TEST_HOLD_AFTER=N``, holds the batch after the Nth until
the test kills the process, so the kill comes part way through however fast or loaded the machine is."""

from __future__ import annotations

import os
import threading
from typing import Any

_batches = 0
_never = threading.Event()


def pause(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    global _batches
    _batches += 1
    hold_after = int(os.environ.get("CONDUIX_TEST_HOLD_AFTER", "0"))
    if hold_after and _batches > hold_after:
        _never.wait()  # until SIGKILL
    _never.wait(float(os.environ.get("CONDUIX_TEST_PAUSE", "0")))
    return records
