"""One pipeline run in its own process: ``python -m conduix_control.agent.worker``.

The agent starts one worker per assignment, so a crashing or memory-hungry pipeline takes down
only itself. Protocol on the pipes (JSON lines):

- stdin, first line: the start spec ``{"yaml", "checkpoint_id", "token", "state_dir", "store",
  "key_prefix", "lease_deadline", "parameters", "children", "allow"}`` (``key_prefix``: the deployment's
  Redis prefix; ``allow``: the agent's allow-list ``{"code", "paths", "hosts"}``); then ``{"renew":
  deadline}`` and ``{"stop": true, "reason": ...}`` (reason ``lease_expired`` when the agent saw the lease
  run out first).
  End of stdin means the agent is gone: the worker stops (a dead agent cannot renew the lease anyway).
  ``parameters`` (not null) makes this a child run: ``${params.NAME}`` filled, no checkpoints.
- stdout: ``{"event": "started"}``, ``{"event": "stats", "time", "records_in", "records_out", "errors",
  "components": {id: {kind, type, records_in, records_out, errors, dead_letters, dropped, retries,
  restarts, buffered, lag}}, "metrics"}`` every second (``metrics``: the run's Prometheus text, which the
  agent serves on its ``/metrics`` with labels pipeline, replica, run), ``{"event": "child", "pipeline",
  "parameters"}`` per child run requested (a ``trigger`` stage, or a record for the pipelines in
  ``children``), ``{"event": "paused", "error": reason, "resume_at", "attempt", "max_attempts"}`` when the
  supervision tree's root gave up and ``{"event": "resumed"}`` when it resumed by itself, and one final
  ``{"event": "finished", "status": ..., "error": ...}``; status is ``succeeded``, ``failed``,
  ``stopped``, ``fenced`` (a checkpoint write was rejected: another agent owns the pipeline) or
  ``lease_expired`` (not renewed in time: stopped to avoid running twice).

The run is built and run by core's ``conduix.Pipeline`` (the one place that builds and runs pipelines):
supervised by the rule of ``conduix run`` (its ``supervision:``, workers, hierarchical format), in-process
otherwise and for pipelines of pipelines (child runs, ``trigger`` stages, declared children), which need the
agent's services as ``conduix run-project`` runs them in-process. The checkpoint store is the pipeline's own,
else the agent's, with lease fencing when it is Redis; each process of the run opens it (:func:`fenced_store`:
this one in-process, the tree's worker processes when supervised), and a fenced write leaves a mark in the run
folder, on which this process stops the whole run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from conduix.access import AccessPolicy
from conduix.api import Pipeline, Run
from conduix.builtins.trigger import parameters_from
from conduix.checkpoint import CheckpointStore, StoreOpener, open_store
from conduix.config import PipelineSpec
from conduix.errors import ConduixError, ConfigError
from conduix.observability import Telemetry
from conduix.project import CHILDREN_SINK, add_children_sink
from conduix.redaction import RedactingFormatter, redact
from conduix.runtime import PipelineRun
from conduix_control.errors import StaleLeaseError
from conduix_control.fencing import FencedRedisCheckpointStore

__all__ = ["fenced_store", "main"]

FENCED_MARK = "fenced"  #: file in the run folder: a supervised worker's checkpoint write was fenced

logger = logging.getLogger("conduix_control.worker")
_out_lock = threading.Lock()
_control: TextIO = sys.stdin  #: the agent's messages (moved off fd 0 by _take_pipes)
_events: TextIO = sys.stdout  #: our events to the agent (moved off fd 1 by _take_pipes)


def _take_pipes() -> None:
    """Keep the agent's pipes to ourselves: fd 0 becomes /dev/null and fd 1 goes to stderr, so a pipeline's
    ``stdin`` source reads nothing of the agent's and its ``stdout`` sink cannot write events the agent
    would believe (a record shaped like ``{"event": "finished", ...}``)."""
    global _control, _events
    _control = os.fdopen(os.dup(0), "r", encoding="utf-8")
    _events = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout.flush()
    os.dup2(2, 1)


def emit(event: str, **data: Any) -> None:
    if isinstance(data.get("error"), str):
        data["error"] = redact(data["error"])
    line = json.dumps({"event": event, **data}, default=str)  # record values (dates...) as text
    with _out_lock:
        _events.write(line + "\n")
        _events.flush()


def _components(run: Run) -> dict[str, dict[str, Any]]:
    """Per component: its counters (summed over a supervised run's workers), and a source's consumer lag."""
    if isinstance(run, PipelineRun):  # a source's consumer lag, summed over its partitions
        lags = {cid: int(sum(lag.values())) for cid, node in run.nodes.items() if (lag := node.lag()) is not None}
    else:
        lags = run.lag()
    out: dict[str, dict[str, Any]] = {}
    for cid, s in run.stats().items():
        if cid == CHILDREN_SINK:
            continue
        out[cid] = {"kind": s.kind, "type": s.type, "records_in": s.records_in, "records_out": s.records_out,
                    "errors": s.errors, "dead_letters": s.dead_letters, "dropped": s.dropped, "retries": s.retries,
                    "restarts": s.restarts, "buffered": s.buffered, "lag": lags.get(cid)}
    return out


def _totals(run: Run) -> dict[str, Any]:
    stats = {cid: s for cid, s in run.stats().items() if cid != CHILDREN_SINK}
    return {"records_in": sum(s.records_out for s in stats.values() if s.kind == "source"),
            "records_out": sum(s.records_in for s in stats.values() if s.kind == "sink"),
            "errors": sum(s.errors for s in stats.values()),
            "components": _components(run), "time": time.time()}


def request_child(pipeline: str, parameters: dict[str, Any]) -> None:
    """The ``request_child`` service (``trigger`` stages): the agent asks the control plane for the run."""
    emit("child", pipeline=pipeline, parameters=parameters)


class Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.deadline = float(spec["lease_deadline"])
        self.reason: str | None = None  # why we stopped the run ourselves
        self.fenced: str | None = None
        state_dir = Path(spec["state_dir"])
        parameters = spec.get("parameters")
        # what the pipeline reaches is checked against the agent's allow-list before anything of it is built
        probe = Pipeline.from_text(spec["yaml"], name=spec["checkpoint_id"], params=parameters, build=False)
        refused = policy(spec.get("allow"), state_dir).check(probe.spec)
        if refused:
            raise ConfigError.collect(refused)
        pipeline = Pipeline.from_text(spec["yaml"], name=spec["checkpoint_id"], params=parameters)
        pipeline.spec.name = spec["checkpoint_id"]  # checkpoints are kept per replica (per run for a child run)
        self.children: list[dict[str, Any]] = list(spec.get("children") or [])
        self._held: list[dict[str, Any]] = []  # records whose child runs start after this run succeeded
        self.fence_mark = state_dir / FENCED_MARK
        self.fence_mark.unlink(missing_ok=True)
        # the pipeline's own store wins; Redis with fencing (and local files as fallback)
        opener = StoreOpener("conduix_control.agent.worker:fenced_store", {
            "url": pipeline.spec.settings.checkpoint.store or spec.get("store"), "token": int(spec["token"]),
            "prefix": spec.get("key_prefix") or "", "lease_id": spec["checkpoint_id"], "mark": str(self.fence_mark)})
        self.store: CheckpointStore | None = None
        self.telemetry: Telemetry | None = None  # a supervised run's workers have their own
        self.run: Run
        if pipeline.wants_supervision() and not _needs_services(pipeline.spec, parameters, self.children):
            self.run = pipeline.prepare(state_dir=state_dir, supervised=True, checkpoints=opener)
            return
        if self.children:  # its records start child runs of the pipelines declaring it their parent
            add_children_sink(pipeline.spec)
        if parameters is None:
            self.store = opener.open(state_dir)
        self.telemetry = Telemetry(pipeline.spec.settings.telemetry)  # the agent serves its metrics
        self.run = pipeline.prepare(
            telemetry=self.telemetry, state_dir=state_dir, parameters=parameters, supervised=False,
            services={"request_child": request_child, "parent_records": self.parent_records},
            # a child run is retried whole: it keeps no position of its own
            checkpoints=self.store if self.store is not None else False)

    def parent_records(self, records: list[dict[str, Any]]) -> None:
        """Records of this pipeline's data type: child runs now (``start: streaming``) or after success."""
        for record in records:
            for child in self.children:
                if child.get("start") == "streaming":
                    request_child(child["pipeline"], parameters_from(record, child.get("parameters")))
            if any(child.get("start") != "streaming" for child in self.children):
                self._held.append(record)

    def _release_children(self) -> None:
        for record in self._held:
            for child in self.children:
                if child.get("start") != "streaming":
                    request_child(child["pipeline"], parameters_from(record, child.get("parameters")))
        self._held.clear()

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            logger.warning("stopping pipeline %s: %s", self.spec["checkpoint_id"], reason)
        self.run.stop()

    def read_stdin(self) -> None:
        for line in _control:
            message = json.loads(line)
            if "renew" in message:
                self.deadline = max(self.deadline, float(message["renew"]))
            if message.get("stop"):
                self.stop(message.get("reason") or "stop requested by the agent")
        self.stop("the agent went away (stdin closed)")

    def watch_lease(self) -> None:
        while not self.run.join(0.2):
            if time.time() > self.deadline and self.reason is None:
                self.reason = "lease_expired"
                logger.warning("lease of %s expired (not renewed since %.1f s): stopping so that it never runs twice",
                               self.spec["checkpoint_id"], time.time() - self.deadline)
                self.run.stop()
            if self.marked_fenced():
                self.run.stop()

    def marked_fenced(self) -> bool:
        """Whether a supervised worker process left the mark of a fenced write (noted once, with its error)."""
        if self.fenced is None and self.fence_mark.exists():
            self.fenced = self.fence_mark.read_text(errors="replace") or "checkpoint write fenced"
            logger.error("%s", self.fenced)
            emit("fenced", error=self.fenced)
        return self.fenced is not None

    def report_pause(self, sent: dict[str, Any] | None) -> dict[str, Any] | None:
        """Tell the agent when the supervision tree paused (with why) and when it resumed by itself."""
        paused = getattr(self.run, "paused", None)
        if paused == sent:
            return sent
        if paused:
            emit("paused", error=paused.get("reason"), resume_at=paused.get("resume_at"),
                 attempt=paused.get("attempt"), max_attempts=paused.get("max_attempts"))
        else:
            emit("resumed")
        return dict(paused) if paused else None

    def main(self) -> int:
        self.run.start()
        emit("started")
        threading.Thread(target=self.read_stdin, daemon=True).start()
        threading.Thread(target=self.watch_lease, daemon=True).start()
        paused: dict[str, Any] | None = None
        while not self.run.join(1.0):
            paused = self.report_pause(paused)
            emit("stats", **_totals(self.run), metrics=self.run.metrics_text().decode())
        result = self.run.result
        status = "succeeded" if result is not None and result.ok else "failed"
        error = str(result.error) if result is not None and result.error else None
        if self.marked_fenced():  # also a final checkpoint fenced while the run stopped
            status, error = "fenced", self.fenced
        elif self.reason == "lease_expired":
            status, error = "lease_expired", "lease not renewed in time (agent cut off or paused)"
        elif self.reason is not None and status == "succeeded":
            status = "stopped"
        if status == "succeeded":
            self._release_children()  # before "finished": the agent forwards events in order
        emit("finished", status=status, error=error, **_totals(self.run))
        if self.telemetry is not None:
            self.telemetry.shutdown()
        if self.store is not None:
            self.store.close()
        return 0


def _needs_services(spec: PipelineSpec, parameters: dict[str, Any] | None, children: list[dict[str, Any]]) -> bool:
    """Child runs, ``trigger`` stages and parents of declared children talk to the agent: in-process only."""
    return (parameters is not None or bool(children)
            or any(c.kind == "stage" and c.type_name == "trigger" for c in spec.components.values()))


def fenced_store(state_dir: Path, *, url: str | None, token: int, prefix: str, lease_id: str,
                 mark: str) -> CheckpointStore:
    """The checkpoint store of one assignment (in each of its processes): ``url`` (files under ``state_dir``
    when None); Redis with lease fencing and local files as fallback. A fenced write leaves ``mark``."""
    store = open_store(url, state_dir, retry_after=2.0,
                       redis=lambda u: FencedRedisCheckpointStore(u, token, prefix=prefix, lease_id=lease_id))
    return _MarkFenced(store, Path(mark))


class _MarkFenced(CheckpointStore):
    """Passes checkpoints through; a fenced write leaves its error in a file the agent's worker watches."""

    def __init__(self, store: CheckpointStore, mark: Path) -> None:
        self.store = store
        self.mark = mark

    def _marked(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except StaleLeaseError as exc:
            # written whole, then renamed: the watcher never reads a mark that exists but is still empty
            partial = self.mark.with_name(self.mark.name + ".tmp")
            partial.write_text(str(exc))
            os.replace(partial, self.mark)
            raise

    def load(self, pipeline_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._marked(self.store.load, pipeline_id)
        return result

    def save(self, pipeline_id: str, checkpoint: dict[str, Any]) -> None:
        self._marked(self.store.save, pipeline_id, checkpoint)

    def delete(self, pipeline_id: str) -> None:
        self.store.delete(pipeline_id)

    def list(self) -> list[str]:
        return self.store.list()

    def close(self) -> None:
        self.store.close()


class _RedactingStream(io.TextIOBase):
    """A text stream writing through :func:`conduix.redaction.redact` (whole lines, so a secret is never split)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        lines, _, self.pending = self.pending.rpartition("\n")
        if lines:
            self.inner.write(redact(lines + "\n"))
            self.inner.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.inner.write(redact(self.pending))
            self.pending = ""
        self.inner.flush()


def policy(allow: dict[str, Any] | None, run_dir: Path) -> AccessPolicy:
    """The agent's allow-list as sent in the start spec (no spec: nothing but the run's folder, no code)."""
    allow = allow or {"code": False, "paths": [], "hosts": None}
    paths = allow.get("paths")
    return AccessPolicy(allow_code=bool(allow.get("code")), paths=None if paths is None else [Path(p) for p in paths],
                        hosts=allow.get("hosts"), cwd=run_dir)


def main() -> int:
    sys.stderr = _RedactingStream(sys.stderr)  # tracebacks and warnings that bypass logging
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s worker[%(process)d] %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    _take_pipes()
    spec = json.loads(_control.readline())
    try:
        worker = Worker(spec)
    except ConduixError as exc:  # invalid here, or reaching beyond the allow-list: the run fails with why
        logger.error("pipeline %s not started: %s", spec.get("checkpoint_id"), exc)
        emit("finished", status="failed", error=str(exc))
        return 0
    return worker.main()


if __name__ == "__main__":
    sys.exit(main())
