"""A python-stage function for the crash tests: pauses per batch (``CONDUIX_TEST_PAUSE`` seconds) so a
test can kill the pipeline part way."""

from __future__ import annotations

import os
import time
from typing import Any


def pause(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    time.sleep(float(os.environ.get("CONDUIX_TEST_PAUSE", "0")))
    return records
