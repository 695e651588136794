"""What a process moving data does differently from one starting up: keep the memory it frees between batches,
and collect reference cycles less often.

glibc's ``malloc`` returns the free memory at the top of a heap to the OS (``madvise``) once it passes its trim
threshold; a batch's records, freed together, pass it at nearly every batch, and the next batch then faults
the same pages in again: a whole-process file run spent about as much CPU in the kernel for those page faults
(0.8-1 s per 500,000 records) as in half of its Python work. A fixed trim threshold of a few MiB keeps that
memory for the next batch; a process holds at most that much more than it uses.

Python's cycle collector runs after every 700 container objects allocated and not yet freed: a batch of a
thousand records (dicts, and the dicts they were parsed from) passes that several times, so it ran about twice
per batch, each time walking the batch's young objects (3-4% of a file run's CPU). Records hold no reference
cycles; a first-generation threshold of :data:`GC_THRESHOLD` lets a batch come and go between collections.
"""

from __future__ import annotations

import gc
import logging
import sys

__all__ = ["GC_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory", "tune_for_throughput"]

logger = logging.getLogger(__name__)

TRIM_THRESHOLD = 8 << 20
"""Free bytes a heap keeps before glibc gives them back to the OS."""

GC_THRESHOLD = 20_000
"""Container objects allocated (and not freed) between two collections of the youngest generation."""

_M_TRIM_THRESHOLD = -1  # mallopt's parameter number, <malloc.h>

_applied: bool | None = None


def tune_for_throughput() -> None:
    """:func:`keep_freed_memory`, and the cycle collector's first threshold raised to :data:`GC_THRESHOLD`
    (never lowered). Called by a source's thread once a run moves data (after a few batches)."""
    keep_freed_memory()
    first, *rest = gc.get_threshold()
    if first and first < GC_THRESHOLD:  # 0: collection switched off by the process; left so
        gc.set_threshold(GC_THRESHOLD, *rest)


def keep_freed_memory() -> bool:
    """Set glibc's trim threshold to :data:`TRIM_THRESHOLD`, once per process; False where there is no glibc.

    Called once a run moves data (:func:`tune_for_throughput`), so that short runs and commands never load
    :mod:`ctypes`.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # the process's C library: glibc's, or one without mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        _applied = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError) as exc:
        logger.debug("malloc trim threshold not set: %s", exc)
    return _applied
