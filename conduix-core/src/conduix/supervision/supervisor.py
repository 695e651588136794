"""The supervisor actor: starts its children, watches them, restarts them by strategy."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import (
    Actor,
    ActorAddress,
    ActorExitRequest,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

from conduix.supervision._process import (
    adopt_inherited_loggers,
    process_alive,
    process_start_time,
    set_parent_death_signal,
)
from conduix.supervision.messages import (
    ChildFailed,
    ChildFinished,
    ChildStarted,
    PauseRequest,
    Ping,
    Pong,
    ResumeRequest,
    StartChild,
    StatusReply,
    StatusRequest,
    Stopped,
    StopRequest,
)
from conduix.supervision.spec import ChildSpec, SupervisorSpec, WorkerSpec
from conduix.supervision.strategy import Backoff, RestartBudget, children_to_restart
from conduix.supervision.worker import Worker

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)

TICK = 0.1
#: Heartbeat pings go out this often (or every quarter heartbeat timeout if shorter); status lags by about this.
PING_INTERVAL = 0.5
_TICK = "tick"
_EXIT = "exit"
_LIVE = ("starting", "running")
_MAX_EVENTS = 50


@dataclass
class _Child:
    spec: ChildSpec
    addr: ActorAddress | None = None
    pid: int | None = None
    pid_start: int | None = None
    state: str = "new"  # new starting running stopping down finished stopped
    last_seen: float = 0.0
    last_ping: float = 0.0
    ping_seq: int = 0
    restarts: int = 0
    earlier_restarts: int = 0  # restarts inside a child supervisor's earlier incarnations (their trees are gone)
    reason: str | None = None
    restart_at: float | None = None
    group: int = 0
    stop_deadline: float | None = None
    killed: bool = False
    start_seq: int = 0
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def stop_timeout(self) -> float:
        return self.spec.stop_timeout if isinstance(self.spec, WorkerSpec) else 30.0


class Supervisor(Actor):
    """Supervises the children of a :class:`SupervisorSpec`.

    Failures it sees: a child reporting :class:`ChildFailed` (its task raised,
    or a child supervisor gave up), a child process that exited (``SIGKILL``),
    and a child that answered no :class:`Ping` within its heartbeat timeout
    (killed, then restarted). Restarts follow the strategy within the restart
    budget, each after an exponential backoff; past the budget it gives up:
    a child supervisor escalates to its parent, the root pauses the tree.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_parent_death_signal()
        adopt_inherited_loggers(logger)
        self.spec: SupervisorSpec | None = None
        self.parent: ActorAddress | None = None
        self.owner: tuple[int, int] | None = None
        self.owner_group: int | None = None
        self.is_root = False
        self.children: dict[str, _Child] = {}
        self.state = "new"
        self.reason: str | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=_MAX_EVENTS)
        self.stop_requesters: list[ActorAddress] = []
        self.kill_group_when_stopped = False
        self._groups = 0
        self._starts = 0
        self.budget: RestartBudget | None = None
        self.backoff: Backoff | None = None

    @property
    def _id(self) -> str:
        return self.spec.id if self.spec else "?"

    # -- message dispatch ---------------------------------------------------------------------
    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        if isinstance(message, WakeupMessage):
            if message.payload == _TICK:
                self._tick()
            elif message.payload == _EXIT:
                self.send(self.myAddress, ActorExitRequest())
        elif isinstance(message, Pong):
            child = self._child_from(sender, message.child_id)
            if child is not None:
                child.last_seen = time.monotonic()
                child.status = message.status
        elif isinstance(message, Ping):
            self.send(sender, Pong(self._id, message.seq, self._status()))
        elif isinstance(message, StatusRequest):
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, ChildActorExited):
            self._on_child_exit(message.childAddress)
        elif isinstance(message, ChildStarted):
            child = self._child_from(sender, message.child_id)
            if child is not None:
                child.pid = message.pid
                child.pid_start = process_start_time(message.pid)
                child.last_seen = time.monotonic()
                if child.state == "starting":
                    child.state = "running"
        elif isinstance(message, ChildFailed):
            child = self._child_from(sender, message.child_id)
            if child is not None and message.status:
                child.status = message.status
            if child is not None and child.state in _LIVE:
                child.state = "stopping"  # it exits by itself
                child.stop_deadline = time.monotonic() + child.stop_timeout + 1.0
                self._on_failure(child, message.reason)
        elif isinstance(message, Stopped):  # a child's reply to our StopRequest, with its final snapshot
            child = self._child_from(sender, message.child_id)
            if child is not None and message.status:
                child.status = message.status
        elif isinstance(message, ChildFinished):
            child = self._child_from(sender, message.child_id)
            if child is not None and message.status:
                child.status = message.status
            if child is not None and child.state in _LIVE:
                child.state = "finished"
                logger.info("supervisor %s: child %s finished", self._id, child.spec.id)
        elif isinstance(message, StartChild):
            self._start(message, sender)
        elif isinstance(message, StopRequest):
            self._stop_all(sender)
        elif isinstance(message, PauseRequest):
            self._pause(message.reason)
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, ResumeRequest):
            self._resume()
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, PoisonMessage):
            logger.error("supervisor %s: a message it sent made its receiver fail: %s", self._id, message)

    def _child_from(self, sender: ActorAddress, child_id: str) -> _Child | None:
        """The child that sent this, if it is the current incarnation (stale senders are ignored)."""
        child = self.children.get(child_id)
        return child if child is not None and child.addr is not None and child.addr == sender else None

    def _child_at(self, addr: ActorAddress) -> _Child | None:
        """The child whose current incarnation lives at ``addr`` (ActorAddress is not hashable)."""
        return next((c for c in self.children.values() if c.addr is not None and c.addr == addr), None)

    # -- starting -----------------------------------------------------------------------------
    def _start(self, message: StartChild, sender: ActorAddress) -> None:
        if self.spec is not None or not isinstance(message.spec, SupervisorSpec):
            return
        spec = self.spec = message.spec
        self.parent = sender
        if message.owner is not None:
            pid, start_time, self.owner_group = message.owner
            self.owner = (pid, start_time)
            self.is_root = True
        self.budget = RestartBudget(spec.max_restarts, spec.within_seconds)
        self.backoff = Backoff(spec.backoff)
        self.children = {child.id: _Child(child) for child in spec.children}
        self.send(sender, ChildStarted(spec.id, os.getpid(), os.getpgid(0)))
        self.state = "running"
        logger.info("supervisor %s (%s) starting %d children", spec.id, spec.strategy, len(self.children))
        for child in self.children.values():
            self._start_child(child)
        self.wakeupAfter(TICK, payload=_TICK)

    def _start_child(self, child: _Child) -> None:
        actor_class = Supervisor if isinstance(child.spec, SupervisorSpec) else Worker
        addr = self.createActor(actor_class)
        now = time.monotonic()
        child.addr, child.pid, child.pid_start, child.state = addr, None, None, "starting"
        child.last_seen = child.last_ping = now
        child.restart_at = child.stop_deadline = None
        child.killed = False
        child.earlier_restarts += int(child.status.get("restarts_total") or 0)
        child.status = {}
        self._starts += 1
        child.start_seq = self._starts
        self.send(addr, StartChild(child.spec))
        logger.info("supervisor %s: started %s (restarts so far: %d)", self._id, child.spec.id, child.restarts)

    # -- failures and restarts ----------------------------------------------------------------
    def _on_child_exit(self, addr: ActorAddress) -> None:
        child = self._child_at(addr)
        if child is not None:
            self._child_exited(child)

    def _process_gone(self, child: _Child) -> bool:
        """The child's process is gone although no ChildActorExited came (Thespian can miss one)."""
        if child.addr is None or child.pid is None or child.pid_start is None:
            return False
        return not process_alive(child.pid, child.pid_start)

    def _child_exited(self, child: _Child) -> None:
        child.addr = None
        if child.state == "finished":  # its last snapshot holds its final counters: kept
            return
        if child.state == "stopping":
            child.state = "down" if child.restart_at is not None else "stopped"
            return
        child.state = "down"
        child.status = {}  # the last snapshot described a process that died
        self._on_failure(child, "process exited unexpectedly (killed by a signal?)")

    def _kill(self, child: _Child) -> None:
        """Kill a child process that does not answer; its exit then arrives as ChildActorExited."""
        if child.killed:
            return
        child.killed = True
        if child.pid is not None:
            try:
                os.kill(child.pid, signal.SIGKILL)
                return
            except ProcessLookupError:
                return
        if child.addr is not None:
            self.send(child.addr, ActorExitRequest())

    def _on_failure(self, child: _Child, reason: str) -> None:
        assert self.spec is not None and self.budget is not None and self.backoff is not None
        child.reason = reason
        if self.state != "running":
            logger.warning("supervisor %s (%s): child %s failed: %s", self._id, self.state, child.spec.id, reason)
            return
        now = time.monotonic()
        if not self.budget.try_restart(now):
            self._give_up(child, reason)
            return
        attempt = self.budget.used(now) - 1
        delay = self.backoff.delay(attempt)
        order = list(self.children)
        ids = [
            cid for cid in children_to_restart(self.spec.strategy, order, child.spec.id)
            if cid == child.spec.id or self.children[cid].state != "finished"
        ]
        self._groups += 1
        for cid in ids:
            member = self.children[cid]
            member.restarts += 1
            member.group = self._groups
            member.restart_at = now + delay
            if member.state in _LIVE:
                self._request_stop(member)
        logger.warning(
            "supervisor %s: child %s failed (%s); restarting %s in %.3f s (restart %d of %d within %.1f s)",
            self._id, child.spec.id, reason, ", ".join(ids), delay, attempt + 1,
            self.spec.max_restarts, self.spec.within_seconds,
        )
        self.events.append({
            "time": time.time(), "child": child.spec.id, "reason": reason, "restarting": ids,
            "delay": delay, "attempt": attempt + 1,
        })

    def _request_stop(self, child: _Child) -> None:
        child.state = "stopping"
        child.stop_deadline = time.monotonic() + child.stop_timeout + 1.0
        if child.addr is not None:
            self.send(child.addr, StopRequest())

    def _give_up(self, child: _Child, reason: str) -> None:
        assert self.spec is not None
        text = (
            f"supervisor {self._id} gave up after {self.spec.max_restarts} restarts within "
            f"{self.spec.within_seconds:g} s; last failure: {child.spec.id}: {reason}"
        )
        self.reason = text
        self.events.append({"time": time.time(), "child": child.spec.id, "reason": reason, "gave_up": True})
        for member in self.children.values():
            member.restart_at = None
            if member.state in _LIVE:
                self._request_stop(member)
            elif member.state == "down":
                member.state = "stopped"
        if self.is_root:
            self.state = "paused"
            logger.error("%s; the tree is paused until resumed", text)
        else:
            self.state = "failed"
            logger.error("%s; escalating to its parent", text)
            if self.parent is not None:
                self.send(self.parent, ChildFailed(self._id, text, self._status()))

    # -- stop, pause, resume ------------------------------------------------------------------
    def _stop_all(self, requester: ActorAddress | None) -> None:
        if requester is not None:
            self.stop_requesters.append(requester)
        if self.state != "stopping":
            logger.info("supervisor %s stopping", self._id)
        self.state = "stopping"
        for child in reversed(list(self.children.values())):
            child.restart_at = None
            if child.state in _LIVE:
                self._request_stop(child)
            elif child.state in ("down", "new"):
                child.state = "stopped"

    def _pause(self, reason: str) -> None:
        if self.state != "running":
            return
        self.state = "paused"
        self.reason = reason
        logger.warning("supervisor %s paused: %s", self._id, reason)
        for child in self.children.values():
            if child.state in _LIVE and child.addr is not None:
                self.send(child.addr, PauseRequest(reason))

    def _resume(self) -> None:
        if self.state != "paused" or self.budget is None:
            return
        logger.warning("supervisor %s resuming (was paused: %s)", self._id, self.reason)
        self.state = "running"
        self.reason = None
        self.budget.reset()
        self._groups += 1
        now = time.monotonic()
        for child in self.children.values():
            if child.state in _LIVE and child.addr is not None:
                self.send(child.addr, ResumeRequest())
            elif child.state in ("down", "stopped", "new"):
                self._start_child(child)
            elif child.state == "stopping":
                child.restart_at, child.group = now, self._groups

    # -- periodic work ------------------------------------------------------------------------
    def _tick(self) -> None:
        done = False
        try:
            now = time.monotonic()
            self._check_heartbeats(now)
            self._start_due_restarts(now)
            if self._owner_gone():
                logger.error("supervisor %s: the process that owns the actor system is gone; stopping", self._id)
                self.kill_group_when_stopped = True
                self.owner = None
                self._stop_all(None)
            done = self._finish_if_done()
        except Exception:
            # Not re-raised: Thespian would retry the wakeup and the ticks would multiply.
            logger.exception("supervisor %s: periodic check failed; retrying at the next tick", self._id)
        finally:
            if not done:
                self.wakeupAfter(TICK, payload=_TICK)

    def _check_heartbeats(self, now: float) -> None:
        for child in self.children.values():
            if self._process_gone(child):
                logger.info("supervisor %s: process %s of child %s is gone", self._id, child.pid, child.spec.id)
                self._child_exited(child)
                continue
            if child.state in _LIVE and child.addr is not None:
                timeout = child.spec.heartbeat_timeout
                if now - child.last_seen > timeout:
                    reason = f"no heartbeat for {now - child.last_seen:.1f} s (timeout {timeout:g} s)"
                    logger.error("supervisor %s: child %s: %s; killing it", self._id, child.spec.id, reason)
                    child.state = "stopping"
                    child.stop_deadline = now + child.stop_timeout + 1.0
                    self._kill(child)
                    self._on_failure(child, reason)
                elif now - child.last_ping >= min(PING_INTERVAL, timeout / 4):
                    child.ping_seq += 1
                    child.last_ping = now
                    self.send(child.addr, Ping(child.ping_seq))
            elif child.state == "stopping" and child.stop_deadline is not None and now > child.stop_deadline:
                logger.error("supervisor %s: child %s did not stop in time; killing it", self._id, child.spec.id)
                child.stop_deadline = None
                self._kill(child)

    def _start_due_restarts(self, now: float) -> None:
        if self.state != "running":
            return
        waiting = {c.group for c in self.children.values() if c.state == "stopping" and c.restart_at is not None}
        for child in self.children.values():
            if (
                child.state == "down" and child.restart_at is not None and child.restart_at <= now
                and child.group not in waiting
            ):
                self._start_child(child)

    def _owner_gone(self) -> bool:
        if self.owner is None:
            return False
        pid, start_time = self.owner
        return process_start_time(pid) != start_time

    def _finish_if_done(self) -> bool:
        """Reply to stop requests, escalate or exit once no child runs; True when this actor is done."""
        busy = any(c.state in (*_LIVE, "stopping") for c in self.children.values())
        if busy:
            return False
        if self.state == "running" and self.children and all(
            c.state == "finished" for c in self.children.values()
        ):
            self.state = "finished"
            logger.info("supervisor %s: every child finished", self._id)
            if not self.is_root and self.parent is not None:
                self.send(self.parent, ChildFinished(self._id, self._status()))
                self.wakeupAfter(TICK, payload=_EXIT)
                return True
        if self.state == "stopping":
            self.state = "stopped"
            for requester in self.stop_requesters:
                self.send(requester, Stopped(self._id, self._status()))
            self.stop_requesters.clear()
            if self.kill_group_when_stopped:
                self._kill_process_group()
            if not self.is_root:
                self.wakeupAfter(TICK, payload=_EXIT)
                return True
        if self.state == "failed":
            self.wakeupAfter(TICK, payload=_EXIT)
            return True
        return False

    def _kill_process_group(self) -> None:
        """End the whole actor system (admin, logger, every actor) after its owner died."""
        group = os.getpgid(0)
        if group == self.owner_group:
            logger.error("supervisor %s: actor system shares process group %d with its owner; not killing it",
                         self._id, group)
            return
        logger.error("supervisor %s: killing the orphaned actor system (process group %d)", self._id, group)
        os.killpg(group, signal.SIGKILL)

    # -- status -------------------------------------------------------------------------------
    def _status(self) -> dict[str, Any]:
        spec = self.spec
        now = time.monotonic()
        children = []
        for child in self.children.values():
            entry = dict(child.status)
            entry.update(id=child.spec.id, restarts=child.restarts, pid=child.pid, start_seq=child.start_seq)
            entry.setdefault("kind", "supervisor" if isinstance(child.spec, SupervisorSpec) else "worker")
            if child.state not in _LIVE or "state" not in entry:
                entry["state"] = child.state
            if child.reason:
                entry["last_failure"] = child.reason
            if child.restart_at is not None:
                entry["restart_in"] = round(max(0.0, child.restart_at - now), 3)
            children.append(entry)
        status: dict[str, Any] = {
            "id": self._id, "kind": "supervisor", "state": self.state, "pid": os.getpid(),
            "restarts": sum(c.restarts for c in self.children.values()),
            # every restart in this subtree, also those under child supervisors that were restarted since
            "restarts_total": sum(c.restarts + c.earlier_restarts + int(c.status.get("restarts_total") or 0)
                                  for c in self.children.values()),
            "children": children, "events": list(self.events),
        }
        if spec is not None and self.budget is not None:
            status["strategy"] = spec.strategy
            status["budget"] = {
                "max_restarts": spec.max_restarts, "within_seconds": spec.within_seconds,
                "used": self.budget.used(now),
            }
        if self.reason:
            status["reason"] = self.reason
        return status
