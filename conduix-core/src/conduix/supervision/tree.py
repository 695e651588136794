"""A handle on a running supervision tree: status, stop, pause, resume, wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from thespian.actors import ActorAddress, ActorSystem

from conduix.errors import SupervisionError
from conduix.supervision._process import process_alive, process_start_time
from conduix.supervision.messages import PauseRequest, ResumeRequest, StatusReply, StatusRequest, Stopped, StopRequest
from conduix.supervision.spec import SupervisorSpec

__all__ = ["SupervisionTree", "find_node", "iter_nodes"]


class SupervisionTree:
    """Talks to the root supervisor of one tree. Not thread-safe: call it from one thread.

    ``status()`` returns nested dicts: a supervisor's ``state`` (running,
    paused, stopping, stopped, finished), ``reason`` when paused, ``restarts``,
    ``budget``, ``events`` (each restart with its delay) and ``children``; a
    worker's ``state``, ``pid``, ``restarts``, ``last_failure`` and its task's
    ``task`` snapshot. Children's entries are refreshed by heartbeats, so they
    may lag by up to a second.
    """

    def __init__(self, asys: ActorSystem, root: ActorAddress, spec: SupervisorSpec, *,
                 ask_timeout: float = 10.0, root_pid: int | None = None) -> None:
        self._asys = asys
        self.root = root
        self.spec = spec
        self.ask_timeout = ask_timeout
        self.stopped = False
        self.root_pid = root_pid
        self._root_start = process_start_time(root_pid) if root_pid is not None else None

    def root_alive(self) -> bool:
        """Whether the root supervisor's process still runs (nothing restarts it: the run has failed)."""
        if self.root_pid is None or self._root_start is None:
            return True
        return process_alive(self.root_pid, self._root_start)

    def _ask(self, message: Any, timeout: float | None = None) -> Any:
        timeout = self.ask_timeout if timeout is None else timeout
        if not self.root_alive():
            raise SupervisionError(
                f"the root supervisor of tree {self.spec.id!r} (process {self.root_pid}) is gone; "
                "its workers died with it: restart the run, it resumes from the checkpoints"
            )
        reply = self._asys.ask(self.root, message, timeout)
        if reply is None:
            raise SupervisionError(
                f"supervision tree {self.spec.id!r} did not answer {type(message).__name__} within {timeout:g} s"
            )
        return reply

    def status(self, timeout: float | None = None) -> dict[str, Any]:
        """A snapshot of the whole tree."""
        reply = self._ask(StatusRequest(), timeout)
        if not isinstance(reply, StatusReply):
            raise SupervisionError(f"unexpected answer to a status request: {reply!r}")
        return reply.status

    def pause(self, reason: str = "paused by operator") -> dict[str, Any]:
        """Stop every task gracefully but keep the tree, so :meth:`resume` can start them again."""
        reply = self._ask(PauseRequest(reason))
        return reply.status if isinstance(reply, StatusReply) else self.status()

    def resume(self) -> dict[str, Any]:
        """Resume a paused tree, including one the root paused after giving up (budget reset)."""
        reply = self._ask(ResumeRequest())
        return reply.status if isinstance(reply, StatusReply) else self.status()

    def stop(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Stop every task gracefully (final checkpoints) and wait until all worker processes exited; returns
        the tree's final status (each worker's last counters), None when it was stopped already."""
        if self.stopped:
            return None
        try:
            reply = self._ask(StopRequest(), timeout)
        except SupervisionError as exc:
            raise SupervisionError(f"{exc}; still running: {self._busy()}") from exc
        if not isinstance(reply, Stopped):
            raise SupervisionError(f"unexpected answer to a stop request: {reply!r}")
        self.stopped = True
        return reply.status

    def _busy(self) -> str:
        try:
            status = self.status(timeout=2.0)
        except SupervisionError:
            return "unknown (the root supervisor does not answer)"
        busy = [f"{node['id']} ({node.get('state')}, pid {node.get('pid')})" for node in iter_nodes(status)
                if node.get("state") not in ("stopped", "finished", "down")]
        return ", ".join(busy) or "nothing"

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                 interval: float = 0.1) -> dict[str, Any]:
        """Poll :meth:`status` until ``predicate(status)`` holds; raise SupervisionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while not predicate(status):
            if time.monotonic() > deadline:
                raise SupervisionError(f"tree {self.spec.id!r}: condition not met within {timeout:g} s; "
                                       f"last status: {status!r}")
            time.sleep(interval)
            status = self.status()
        return status


def iter_nodes(status: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a status tree, depth first."""
    yield status
    for child in status.get("children", []):
        yield from iter_nodes(child)


def find_node(status: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    """The node named ``node_id`` in a status tree, or None."""
    return next((node for node in iter_nodes(status) if node.get("id") == node_id), None)
