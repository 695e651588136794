"""Process hygiene for actor processes: die with the parent, notice a dead owner."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
from collections.abc import Iterator

__all__ = [
    "adopt_inherited_loggers",
    "children",
    "group_members",
    "process_alive",
    "process_start_time",
    "set_parent_death_signal",
]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux); exit if it already did.

    Thespian does not stop the children of a SIGKILLed actor; without this they
    would run on, orphaned, and keep writing. Returns False where unsupported.
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
            return False
    except (OSError, AttributeError):
        logger.warning("no prctl(PR_SET_PDEATHSIG) here: children of a killed actor may be orphaned")
        return False
    if parent == 1 or os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None when it does not exist.

    With the pid it identifies a process across pid reuse.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return 0
    return int(fields[19])


def process_alive(pid: int, start_time: int) -> bool:
    """Whether the process ``pid`` started at ``start_time`` still runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    return fields[0] != b"Z" and int(fields[19]) == start_time


def adopt_inherited_loggers(inherited: logging.Logger) -> None:
    """Send the records of loggers created before this actor process was forked to Thespian's logger.

    Thespian gives each actor process a fresh logging manager whose root
    forwards records to its logger process (configured by ``logDefs``). Module
    level loggers (``logging.getLogger(__name__)`` at import, as in connectors)
    were created in the parent and still hang under the parent's root and
    handlers; this points them at the forwarding root, so every record of the
    process ends up in one place whatever the module's import time.
    """
    old = inherited.manager
    forwarder = logging.root
    if old.root is forwarder:
        return
    for item in list(old.loggerDict.values()):
        if isinstance(item, logging.Logger):
            item.handlers.clear()
            item.propagate = True
    old.root.handlers[:] = list(forwarder.handlers)
    old.root.setLevel(forwarder.level)
    old._clear_cache()  # type: ignore[attr-defined]


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of process group ``group``, from /proc."""
    return [pid for pid, fields in _stats() if fields[0] != b"Z" and int(fields[2]) == group]


def children(parent: int) -> set[int]:
    """The processes whose parent is ``parent`` (zombies too), from /proc."""
    return {pid for pid, fields in _stats() if int(fields[1]) == parent}


def _stats() -> Iterator[tuple[int, list[bytes]]]:
    """Every process's pid and the fields of its /proc stat after the command name (state first)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                line = stat.read()
        except OSError:
            continue
        yield int(entry), line.rsplit(b")", 1)[1].split()
