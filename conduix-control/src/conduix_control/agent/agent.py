"""The agent: registers, heartbeats, receives commands, runs its assigned pipelines, reports runs."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conduix.errors import ConfigError
from conduix.observability.server import ObservabilityServer
from conduix_control.agent.channel import ChannelSettings, CommandChannel, Mode
from conduix_control.agent.client import ControlClient
from conduix_control.agent.process import WorkerProcess
from conduix_control.errors import ControlError, ControlRequestError, RedisUnavailableError
from conduix_control.keys import Keys
from conduix_control.redis_client import ResilientClient, ResilientSettings
from conduix_control.service.actions import TERMINAL

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
    allow_code: bool = False  #: run components that run code a pipeline names (``python`` stages)
    allow_paths: list[Path] | None = None  #: folders pipelines' files must be in (None: ``<state_dir>/files``)
    allow_hosts: list[str] | None = None  #: hosts pipelines may connect to (None: any)
    metrics_host: str = "127.0.0.1"  #: where ``/metrics``, ``/health``, ``/ready``, ``/status`` are served...
    metrics_port: int | None = None  #: ...on this port (0: a free one; None: not served; the CLI's default: 9599)
    redis_settings: ResilientSettings | None = None  #: None: defaults and ``CONDUIX_REDIS_*``

    def allow(self) -> dict[str, Any]:
        """The allow-list as sent to workers (see :func:`conduix_control.agent.worker.policy`)."""
        paths = self.allow_paths if self.allow_paths is not None else [Path(self.state_dir) / "files"]
        return {"code": self.allow_code, "paths": [str(Path(p).resolve()) for p in paths],
                "hosts": None if self.allow_hosts is None else list(self.allow_hosts)}


class Agent:
    """Runs until :meth:`stop`; each assignment runs in its own worker process (see ``worker.py``)."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.id = options.agent_id
        self.client = ControlClient(options.control_url, token=options.token)
        resilience = options.redis_settings or ResilientSettings.from_env()
        self.redis = ResilientClient(options.redis_url, resilience) if options.redis_url else None
        self.store = options.checkpoint_store or options.redis_url
        self.state_dir = Path(options.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if options.allow_paths is None:
            (self.state_dir / "files").mkdir(exist_ok=True)  # where pipelines may read and write by default
        self.dumpable = _not_dumpable()
        self.workers: dict[int, WorkerProcess] = {}
        self.timings: dict[str, float] = {}
        self.keys: Keys | None = None  #: the deployment's Redis names, learnt when registering
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
        self.endpoint: ObservabilityServer | None = None
        self.metrics_url: str | None = None  #: where the endpoint listens, once :meth:`run` started it

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
            assert self.keys is not None
            self.workers[assignment_id] = WorkerProcess(payload, state_dir=self.state_dir, store=self.store,
                                                        key_prefix=self.keys.prefix, allow=self.options.allow(),
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
        elif kind == "paused":  # the supervision tree gave up; it resumes by itself on its schedule
            why = _paused_text(event)
            logger.error("agent %s: run %d of %s paused: %s", self.id, worker.run_id, worker.payload["checkpoint_id"],
                         why)
            self._report(worker.run_id, {"status": "paused", "error": why}, force=True)
        elif kind == "resumed":
            logger.info("agent %s: run %d of %s resumed", self.id, worker.run_id, worker.payload["checkpoint_id"])
            self._report(worker.run_id, {"status": "running"}, force=True)
        elif kind == "fenced":
            logger.error("agent %s: %s", self.id, event.get("error"))
        elif kind == "finished":
            # a refused child request fails the run: know it before reporting the end (waiting for a flush the
            # main loop has in flight; one that cannot reach the control plane is settled in _flush_reports)
            self._flush_children(wait=True)
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

    def _flush_children(self, wait: bool = False) -> None:
        """Ask the control plane for the child runs workers requested, oldest first; kept until it answers.
        ``wait``: when another thread is flushing, wait for it to end (and learn its refusals) and go on."""
        if not self._children_lock.acquire(blocking=wait):
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
            asking = {run_id for run_id, _ in self._pending_children}
            # a run's end waits for its child requests: the control plane takes them from running runs only
            pending = [(run_id, fields) for run_id, fields in self._pending_reports.items()
                       if run_id not in asking or fields.get("status") not in TERMINAL]
            for run_id, fields in pending:  # a child run refused once the run had ended (sent late) fails it
                refused = self._refused_children.pop(run_id, None) if fields.get("status") in TERMINAL else None
                if refused and fields["status"] == "succeeded":
                    self._pending_reports[run_id] = {**fields, "status": "failed", "error": refused}
            pending = [(run_id, self._pending_reports[run_id]) for run_id, _ in pending]
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
                "redis": self.redis.metrics.summary() if self.redis else None,
                "channel": self.channel.stats() if self.channel else None, "dumpable": self.dumpable}
        ok = False
        if self.redis is not None and mode in (Mode.REDIS, Mode.HYBRID):
            beat = json.dumps({"time": sent_at, "mode": mode.value, "info": info})
            try:
                assert self.keys is not None
                self.redis.set(self.keys.heartbeat(self.id), beat, ex=self.timings["heartbeat_timeout"])
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
        assert self.redis is not None and self.keys is not None
        workers = [w for w in list(self.workers.values()) if w.running]
        stored = self.redis.mget([self.keys.lease(w.payload["checkpoint_id"]) for w in workers])
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
                self.keys = Keys(answer["deployment"])
                return
            except ControlError as exc:
                if isinstance(exc, ControlRequestError) and exc.status in (401, 403):
                    raise  # a missing or wrong token: retrying does not help
                logger.warning("agent %s: cannot register yet: %s", self.id, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def serve_endpoint(self) -> None:
        """Serve ``/metrics``, ``/health``, ``/ready``, ``/status`` when ``metrics_port`` is set."""
        port, host = self.options.metrics_port, self.options.metrics_host
        if port is None or self.endpoint is not None:
            return
        from conduix_control.agent.endpoint import AgentBackend

        try:
            self.endpoint = ObservabilityServer(AgentBackend(self), host, port).start()
        except OSError as exc:
            raise ConfigError(f"agent {self.id}: cannot serve /metrics on {host}:{port}: {exc}",
                               hint="give another port (--metrics-port, $CONDUIX_AGENT_METRICS_PORT; 0 takes "
                                    "a free one)") from exc
        self.metrics_url = self.endpoint.url
        logger.info("agent %s serving /metrics, /health, /ready at %s", self.id, self.metrics_url)

    def run(self) -> None:
        """Register, then heartbeat and serve commands until :meth:`stop`; stops the workers on the way out."""
        self.serve_endpoint()
        try:
            self._run()
        finally:
            if self.endpoint is not None:
                self.endpoint.stop()

    def _run(self) -> None:
        self._register()
        if self._stop.is_set() or self.keys is None:  # stopped while registering
            return
        t = self.timings
        self.channel = CommandChannel(self.id, self.redis, self.client, self.deliver, ChannelSettings(
            poll_interval=t["poll_interval"], check_interval=min(1.0, t["heartbeat_interval"]),
            recovery_interval=t["poll_interval"]), keys=self.keys).start()
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

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


def _paused_text(event: dict[str, Any]) -> str:
    """A paused run's reason as the control plane shows it, with when it resumes by itself."""
    text = str(event.get("error") or "the supervision tree gave up")
    resume_at, attempt, limit = event.get("resume_at"), event.get("attempt"), event.get("max_attempts")
    if resume_at is None:
        return f"{text}; no automatic resume left"
    when = time.strftime("%H:%M:%S UTC", time.gmtime(float(resume_at)))
    return f"{text}; resuming by itself at {when} (automatic resume {attempt}{'' if limit is None else f' of {limit}'})"


def _not_dumpable() -> bool | None:
    """Make the agent non-dumpable (Linux): processes of the same user, such as a pipeline's code in a worker,
    then cannot read its environment (its token) from /proc or attach to it. Workers start dumpable again.
    Returns whether the agent is dumpable now (None: unknown, not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
        return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
    except (OSError, AttributeError) as exc:
        logger.warning("could not make the agent non-dumpable: %s", exc)
        return None
