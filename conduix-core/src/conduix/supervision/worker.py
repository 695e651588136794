"""The worker actor: owns one task (one pipeline slice) in its own process."""

from __future__ import annotations

import logging
import os
from typing import Any

from thespian.actors import Actor, ActorAddress, ActorExitRequest, PoisonMessage, WakeupMessage

from conduix.supervision._process import adopt_inherited_loggers, set_parent_death_signal
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
from conduix.supervision.spec import WorkerSpec
from conduix.supervision.task import WorkerTask, create_task

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

#: How often the worker looks at its task; control messages are handled in between.
POLL_INTERVAL = 0.05
_POLL = "poll"
_EXIT = "exit"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Worker(Actor):
    """Runs a :class:`WorkerTask` and reports to its supervisor.

    States: starting -> running -> (paused <-> running) -> stopped | finished | failed.
    A failed worker tells its parent why (:class:`ChildFailed`) and then exits
    itself: an exception inside ``receiveMessage`` would not end a Thespian actor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_parent_death_signal()
        adopt_inherited_loggers(logger)
        self.spec: WorkerSpec | None = None
        self.parent: ActorAddress | None = None
        self.task: WorkerTask | None = None
        self.last_task_status: dict[str, Any] | None = None  # of the task stopped last
        self.state = "new"
        self.reason: str | None = None

    # -- message dispatch ---------------------------------------------------------------------
    def receiveMessage(self, message: Any, sender: ActorAddress) -> None:
        if isinstance(message, WakeupMessage):
            if message.payload == _POLL:
                try:
                    self._poll()
                except Exception as exc:
                    # Not re-raised: Thespian would retry the wakeup and the polls would multiply.
                    logger.exception("worker %s: polling its task failed", self._id)
                    self._fail(f"polling the task failed: {_describe(exc)}")
            elif message.payload == _EXIT:
                self.send(self.myAddress, ActorExitRequest())
        elif isinstance(message, Ping):
            if self.spec is not None:
                self.send(sender, Pong(self.spec.id, message.seq, self._status()))
        elif isinstance(message, StatusRequest):
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, StartChild):
            self._start(message.spec, sender)
        elif isinstance(message, StopRequest):
            self._stop_task()
            if self.state not in ("failed", "finished"):
                self.state = "stopped"
            self.send(sender, Stopped(self.spec.id if self.spec else "?", self._status()))
            self.send(self.myAddress, ActorExitRequest())
        elif isinstance(message, PauseRequest):
            if self.state == "running":
                self._stop_task()
                self.state = "paused"
                self.reason = message.reason
                logger.info("worker %s paused: %s", self._id, message.reason)
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, ResumeRequest):
            if self.state == "paused":
                self._run_task()
            self.send(sender, StatusReply(self._status()))
        elif isinstance(message, ActorExitRequest):
            self._stop_task()
        elif isinstance(message, PoisonMessage):
            logger.error("worker %s: a message it sent made its receiver fail: %s", self._id, message)

    @property
    def _id(self) -> str:
        return self.spec.id if self.spec else "?"

    # -- lifecycle ----------------------------------------------------------------------------
    def _start(self, spec: Any, parent: ActorAddress) -> None:
        if self.spec is not None:
            return
        self.spec = spec
        self.parent = parent
        self.send(parent, ChildStarted(spec.id, os.getpid(), os.getpgid(0)))
        self._run_task()
        self.wakeupAfter(POLL_INTERVAL, payload=_POLL)

    def _run_task(self) -> None:
        assert self.spec is not None
        try:
            self.task = create_task(self.spec.task)
            self.task.start()
        except Exception as exc:
            logger.exception("worker %s: starting its task failed", self._id)
            self._fail(f"task did not start: {_describe(exc)}")
            return
        self.state = "running"
        self.reason = None
        logger.info("worker %s running in process %d", self._id, os.getpid())

    def _poll(self) -> None:
        task = self.task
        if self.state == "running" and task is not None:
            error = task.error
            if error is not None:
                self._fail(_describe(error))
            elif task.join(0):
                if task.error is not None:
                    self._fail(_describe(task.error))
                else:
                    self.state = "finished"
                    logger.info("worker %s: task finished", self._id)
                    self.send(self.parent, ChildFinished(self._id, self._status()))
                    self.wakeupAfter(POLL_INTERVAL, payload=_EXIT)
                return
        if self.state in ("running", "paused", "starting"):
            self.wakeupAfter(POLL_INTERVAL, payload=_POLL)

    def _fail(self, reason: str) -> None:
        if self.state == "failed":
            return
        self.state = "failed"
        self.reason = reason
        logger.error("worker %s failed: %s", self._id, reason)
        if self.parent is not None:
            self.send(self.parent, ChildFailed(self._id, reason))
        self._stop_task()
        # Exit on the next wakeup, after the report has left: the parent should hear why first.
        self.wakeupAfter(POLL_INTERVAL, payload=_EXIT)

    def _stop_task(self) -> None:
        task, self.task = self.task, None
        if task is None or self.spec is None:
            return
        try:
            task.stop()
            stopped = task.join(self.spec.stop_timeout)
            self.last_task_status = task.status()
            if not stopped:
                logger.warning("worker %s: task did not stop within %.1f s", self._id, self.spec.stop_timeout)
            elif task.error is not None and self.state != "failed":
                logger.error("worker %s: task failed while stopping: %s", self._id, _describe(task.error))
        except Exception:
            logger.exception("worker %s: stopping its task failed", self._id)

    def _status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"id": self._id, "kind": "worker", "state": self.state, "pid": os.getpid()}
        if self.reason:
            status["reason"] = self.reason
        task = self.task
        if task is not None:
            try:
                status["task"] = task.status()
            except Exception as exc:
                self._fail(f"task status failed: {_describe(exc)}")
                status["state"] = self.state
        elif self.last_task_status is not None:
            status["task"] = self.last_task_status
        return status
