"""A run keeps the memory it frees between batches (glibc's trim threshold) and collects cycles less often,
once it moves data."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

DRIVER = """\
import gc
from conduix.runtime import memory
from conduix.testing import run_pipeline

run_pipeline({"settings": {"batch_size": 10},
              "sources": {"gen": {"type": "generate", "count": %d}},
              "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}}})
print(gc.get_threshold()[0], memory._applied)
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
@pytest.mark.parametrize(("records", "expected"), [(20, ["700", "None"]), (200, ["20000", "True"])])
def test_the_process_is_tuned_once_a_run_moves_data(records: int, expected: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", DRIVER % records], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == expected  # two batches: nothing set (nor ctypes loaded); twenty: set
