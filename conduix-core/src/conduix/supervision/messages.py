"""Control messages between the supervision API, supervisors and workers.

Only control travels as actor messages; records stay inside worker tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conduix.supervision.spec import ChildSpec

__all__ = [
    "ChildFailed",
    "ChildFinished",
    "ChildStarted",
    "PauseRequest",
    "Ping",
    "Pong",
    "ResumeRequest",
    "StartChild",
    "StatusReply",
    "StatusRequest",
    "StopRequest",
    "Stopped",
]


@dataclass
class StartChild:
    """Parent -> new child actor: become this worker or supervisor.

    ``owner`` is ``(pid, start_time, process_group)`` of the process that owns
    the actor system, given to the root only: when that process dies, the
    tree stops and the orphaned actor system is killed.
    """

    spec: ChildSpec
    owner: tuple[int, int, int] | None = None


@dataclass
class ChildStarted:
    """Child -> parent: alive in process ``pid`` (sent before the task is built)."""

    child_id: str
    pid: int
    process_group: int


@dataclass
class ChildFailed:
    """Child -> parent: the child failed (its task raised, or its own budget ran out) and is exiting; a
    supervisor sends its final ``status`` (its restarts), a worker none."""

    child_id: str
    reason: str
    status: dict[str, Any] | None = None


@dataclass
class ChildFinished:
    """Worker -> parent: the task ended by itself without error (a bounded source ran out); ``status`` is its
    final snapshot (the last heartbeat may be older than the end of a short run)."""

    child_id: str
    status: dict[str, Any] | None = None


@dataclass
class Ping:
    """Parent -> child heartbeat; answered with :class:`Pong`."""

    seq: int


@dataclass
class Pong:
    """Child -> parent: alive, with a status snapshot (a supervisor's includes its subtree)."""

    child_id: str
    seq: int
    status: dict[str, Any]


@dataclass
class StatusRequest:
    """Ask for a status snapshot; answered with :class:`StatusReply`."""


@dataclass
class StatusReply:
    status: dict[str, Any]


@dataclass
class StopRequest:
    """Stop gracefully: tasks stop and write their final checkpoints; answered with :class:`Stopped`."""


@dataclass
class Stopped:
    child_id: str
    status: dict[str, Any] | None = None
    """The final snapshot of a stopped worker (its task's last counters)."""


@dataclass
class PauseRequest:
    """Pause: tasks stop gracefully, the actors stay; answered with :class:`StatusReply`."""

    reason: str = "paused by operator"


@dataclass
class ResumeRequest:
    """Resume a paused tree (also one the root paused after giving up); answered with :class:`StatusReply`."""
