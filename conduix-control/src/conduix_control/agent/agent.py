"""The agent: registers, heartbeats, receives commands, runs its assigned pipelines, reports runs."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conduix_control.agent.channel import ChannelSettings, CommandChannel, Mode
from conduix_control.agent.client import ControlClient
from conduix_control.agent.process import WorkerProcess
from conduix_control.errors import ControlError, ControlRequestError, RedisUnavailableError
from conduix_control.fencing import lease_key
from conduix_control.redis_client import ResilientClient, ResilientSettings
from conduix_control.service.commands import heartbeat_key

__all__ = ["Agent", "AgentOptions"]

logger = logging.getLogger(__name__)

_REMEMBERED_COMMANDS = 2000


@dataclass
class AgentOptions:
    control_url: str
    redis_url: str | None = None
    agent_id: str = field(default_factory=socket.gethostname)
    labels: dict[str, str] = field(default_factory=dict)
    capacity: int = 4
    state_dir: Path = Path(".conduix/agent")
    checkpoint_store: str | None = None  #: default: the Redis URL (shared, fenced checkpoints)
    report_interval: float = 1.0  #: per-component stats reach the UI's live view about this often
    token: str | None = None  #: API token (role agent) sent as ``Authorization: Bearer``


class Agent:
    """Runs until :meth:`stop`; each assignment runs in its own worker process (see ``worker.py``)."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.id = options.agent_id
        self.client = ControlClient(options.control_url, token=options.token)
        self.redis = ResilientClient(options.redis_url, ResilientSettings.from_env()) if options.redis_url else None
        self.store = options.checkpoint_store or options.redis_url
        self.state_dir = Path(options.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.workers: dict[int, WorkerProcess] = {}
        self.timings: dict[str, float] = {}
        self.channel: CommandChannel | None = None
        self._lock = threading.RLock()  # commands
        self._report_lock = threading.Lock()
        self._applied: OrderedDict[str, str] = self._load_applied()
        self._pending_acks: dict[str, dict[str, Any]] = {}
        self._pending_reports: dict[int, dict[str, Any]] = {}
        self._pending_children: list[tuple[int, dict[str, Any]]] = []  # (parent run id, request), in order
        self._children_lock = threading.Lock()  # one flusher at a time: each request is sent once
        self._refused_children: dict[int, str] = {}  # parent run id -> why a child run was refused
        self._last_report: dict[int, float] = {}
        self._stop = threading.Event()

    # -- commands --
    def _applied_path(self) -> Path:
        return self.state_dir / "applied-commands.json"

    def _load_applied(self) -> OrderedDict[str, str]:
        try:
            return OrderedDict(json.loads(self._applied_path().read_text()))
        except FileNotFoundError:
            return OrderedDict()

    def _remember(self, command_id: str, result: str) -> None:
        self._applied[command_id] = result
        while len(self._applied) > _REMEMBERED_COMMANDS:
            self._applied.popitem(last=False)
        tmp = self._applied_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(list(self._applied.items())))
        tmp.replace(self._applied_path())

    def deliver(self, command: dict[str, Any], via: str) -> None:
        """Apply a command at most once (by id) and acknowledge it, however often it arrives."""
        with self._lock:
            cid = command["id"]
            if cid in self._applied:  # a duplicate: acknowledge again (the first ack may have been lost)
                result = self._applied[cid]
                self._pending_acks.setdefault(cid, {"ok": result == "applied", "via": via, "result": result})
                self._flush_acks()
                return
            logger.info("agent %s applying command %s (%s %s) via %s", self.id, cid, command["kind"],
                        command.get("pipeline"), via)
            try:
                self.apply(command)
                ack = {"ok": True, "via": via, "result": "applied"}
            except (ControlError, OSError, KeyError, ValueError) as exc:
                logger.error("agent %s: command %s failed: %s", self.id, cid, exc)
                ack = {"ok": False, "via": via, "result": str(exc)}
            self._remember(cid, str(ack["result"]))
            self._pending_acks[cid] = ack
            self._flush_acks()

    def _flush_acks(self) -> None:
        for cid, ack in list(self._pending_acks.items()):
            try:
                self.client.ack(cid, **ack)
            except ControlRequestError as exc:  # refused for good (e.g. unknown command): do not retry
                logger.error("agent %s: control plane refused the ack of %s: %s", self.id, cid, exc)
            except ControlError as exc:
                logger.warning("agent %s: cannot acknowledge command %s yet: %s", self.id, cid, exc)
                return
            self._pending_acks.pop(cid, None)

    def apply(self, command: dict[str, Any]) -> None:
        kind, payload = command["kind"], command.get("payload") or {}
        assignment_id = int(payload["assignment_id"])
        current = self.workers.get(assignment_id)
        if current is not None and current.alive:
            current.stop()
        if kind in ("start", "resume", "restart"):
            lease = self.timings.get("lease", 20.0)
            self.workers[assignment_id] = WorkerProcess(payload, state_dir=self.state_dir, store=self.store,
                                                        lease_deadline=time.time() + lease, on_event=self._on_event)
        elif kind not in ("stop", "pause"):
            raise ControlError(f"unknown command kind {kind!r}")

    # -- runs --
    def _on_event(self, worker: WorkerProcess, event: dict[str, Any]) -> None:
        kind = event.get("event")
        fields = {k: v for k, v in event.items()
                  if k in ("records_in", "records_out", "errors", "error", "components", "time")}
        if kind == "started":
            self._report(worker.run_id, {"status": "running"}, force=True)
        elif kind == "stats":
            self._report(worker.run_id, fields)
        elif kind == "child":
            with self._report_lock:
                self._pending_children.append((worker.run_id, {"pipeline": event.get("pipeline"),
                                                               "parameters": event.get("parameters") or {}}))
            self._flush_children()
        elif kind == "fenced":
            logger.error("agent %s: %s", self.id, event.get("error"))
        elif kind == "finished":
            self._flush_children()  # a refused child request fails the run: know it before reporting the end
            status = event.get("status")
            refused = self._refused_children.pop(worker.run_id, None)
            if refused and status == "succeeded":  # its records were read, but a child run they asked for is lost
                status, fields["error"] = "failed", refused
            logger.info("agent %s: run %d of %s finished: %s %s", self.id, worker.run_id,
                        worker.payload["checkpoint_id"], status, fields.get("error") or "")
            self._report(worker.run_id, {**fields, "status": status}, force=True)
            with self._lock:
                if self.workers.get(worker.assignment_id) is worker:
                    del self.workers[worker.assignment_id]

    def _report(self, run_id: int, fields: dict[str, Any], *, force: bool = False) -> None:
        with self._report_lock:
            merged = {**self._pending_reports.get(run_id, {}), **fields}
            self._pending_reports[run_id] = merged
            if not force and time.monotonic() - self._last_report.get(run_id, 0.0) < self.options.report_interval:
                return
        self._flush_reports()

    def _flush_children(self) -> None:
        """Ask the control plane for the child runs workers requested, oldest first; kept until it answers."""
        if not self._children_lock.acquire(blocking=False):
            return  # another thread is flushing; it sends ours too
        try:
            self._send_children()
        finally:
            self._children_lock.release()

    def _send_children(self) -> None:
        while True:
            with self._report_lock:
                if not self._pending_children:
                    return
                run_id, body = self._pending_children[0]
            try:
                self.client.post(f"/runs/{run_id}/children", body)
            except ControlRequestError as exc:  # refused for good (unknown pipeline...): do not retry
                logger.error("agent %s: control plane refused child run %s of run %d: %s", self.id,
                             body.get("pipeline"), run_id, exc)
                message = f"the control plane refused a run of child pipeline {body.get('pipeline')!r}: {exc}"
                self._refused_children.setdefault(run_id, message)  # the first refusal says it; retry reruns all
                self._report(run_id, {"error": message}, force=True)
            except ControlError as exc:
                logger.warning("agent %s: cannot request child runs yet: %s", self.id, exc)
                return
            with self._report_lock:
                if self._pending_children and self._pending_children[0] == (run_id, body):
                    self._pending_children.pop(0)

    def _flush_reports(self) -> None:
        with self._report_lock:
            pending = list(self._pending_reports.items())
        for run_id, fields in pending:
            try:
                self.client.report(run_id, **fields)
            except ControlRequestError as exc:
                logger.error("agent %s: control plane refused the report of run %d: %s", self.id, run_id, exc)
            except ControlError as exc:
                logger.warning("agent %s: cannot report run %d yet: %s", self.id, run_id, exc)
                return
            with self._report_lock:
                if self._pending_reports.get(run_id) == fields:
                    del self._pending_reports[run_id]
                self._last_report[run_id] = time.monotonic()

    # -- heartbeats and leases --
    def _heartbeat(self) -> None:
        sent_at = time.time()
        mode = self.channel.mode if self.channel else Mode.REST
        info = {"runs": {str(w.run_id): w.stats for w in self.workers.values() if w.alive},
                "redis": self.redis.metrics.as_dict() if self.redis else None}
        ok = False
        if self.redis is not None and mode in (Mode.REDIS, Mode.HYBRID):
            beat = json.dumps({"time": sent_at, "mode": mode.value, "info": info})
            try:
                self.redis.set(heartbeat_key(self.id), beat, ex=self.timings["heartbeat_timeout"])
                ok = True
                self._check_tokens()
            except RedisUnavailableError as exc:
                logger.info("agent %s: Redis heartbeat failed: %s", self.id, exc)
        if mode in (Mode.HYBRID, Mode.REST) or not ok:
            try:
                live = self.client.heartbeat(self.id, mode.value, info)
                ok = True
                self._sync(set(live), sent_at)
            except ControlError as exc:
                logger.warning("agent %s: REST heartbeat failed: %s", self.id, exc)
        if ok:
            self._renew(sent_at)
        else:
            self._expire()

    def _check_tokens(self) -> None:
        """Stop at once a pipeline whose lease token in Redis grew: the control plane gave it to another agent."""
        assert self.redis is not None
        workers = [w for w in list(self.workers.values()) if w.running]
        stored = self.redis.mget([lease_key(w.payload["checkpoint_id"]) for w in workers])
        for worker, raw in zip(workers, stored):
            if raw is not None and int(raw) > worker.token:
                logger.warning("agent %s: %s now has lease token %s > ours (%d): reassigned, stopping it",
                               self.id, worker.payload["checkpoint_id"], int(raw), worker.token)
                threading.Thread(target=worker.stop, daemon=True).start()

    def _renew(self, sent_at: float) -> None:
        """Extend the leases still valid; a lease that already ran out stays lost (the worker stops)."""
        deadline = sent_at + self.timings["lease"]
        for worker in list(self.workers.values()):
            if worker.alive and worker.lease_deadline >= time.time():
                worker.renew(deadline)
        self._expire()

    def _expire(self) -> None:
        for worker in list(self.workers.values()):
            if worker.running and worker.lease_deadline < time.time():
                logger.warning("agent %s: lease of assignment %d expired: stopping its pipeline",
                               self.id, worker.assignment_id)
                threading.Thread(target=worker.stop, kwargs={"reason": "lease_expired"}, daemon=True).start()

    def _sync(self, live: set[int], asked_at: float) -> None:
        """Stop workers whose assignment the control plane no longer gives this agent (reassigned, stopped)."""
        for assignment_id, worker in list(self.workers.items()):
            if worker.running and assignment_id not in live and worker.created_at < asked_at:
                logger.warning("agent %s: assignment %d is no longer ours: stopping it", self.id, assignment_id)
                threading.Thread(target=worker.stop, daemon=True).start()

    def _sync_assignments(self) -> None:
        asked_at = time.time()
        try:
            rows = self.client.get(f"/agents/{self.id}/assignments")
        except ControlError as exc:
            logger.info("agent %s: cannot sync assignments: %s", self.id, exc)
            return
        self._sync({int(r["id"]) for r in rows}, asked_at)

    # -- life cycle --
    def _register(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                answer = self.client.register(self.id, socket.gethostname(), self.options.labels,
                                              self.options.capacity, Mode.REST.value)
                self.timings = answer["settings"]
                return
            except ControlError as exc:
                if isinstance(exc, ControlRequestError) and exc.status in (401, 403):
                    raise  # a missing or wrong token: retrying does not help
                logger.warning("agent %s: cannot register yet: %s", self.id, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def run(self) -> None:
        """Register, then heartbeat and serve commands until :meth:`stop`; stops the workers on the way out."""
        self._register()
        if self._stop.is_set():
            return
        t = self.timings
        self.channel = CommandChannel(self.id, self.redis, self.client, self.deliver, ChannelSettings(
            poll_interval=t["poll_interval"], check_interval=min(1.0, t["heartbeat_interval"]),
            recovery_interval=t["poll_interval"])).start()
        logger.info("agent %s running (mode %s, control plane %s)", self.id, self.channel.mode.value,
                    self.options.control_url)
        last_sync = 0.0
        while not self._stop.is_set():
            self._heartbeat()
            self._flush_acks()
            self._flush_children()
            self._flush_reports()
            if time.monotonic() - last_sync >= t["poll_interval"]:
                last_sync = time.monotonic()
                self._sync_assignments()
            self._stop.wait(t["heartbeat_interval"])
        self._shutdown()

    def _shutdown(self) -> None:
        if self.channel is not None:
            self.channel.stop()
        for worker in list(self.workers.values()):
            if worker.alive:
                worker.stop()
        self._flush_children()
        self._flush_reports()
        self._flush_acks()
        self.client.close()
        if self.redis is not None:
            self.redis.close()

    def stop(self) -> None:
        self._stop.set()
