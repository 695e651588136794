"""One pipeline run in its own process: ``python -m conduix_control.agent.worker``.

The agent starts one worker per assignment, so a crashing or memory-hungry pipeline takes down
only itself. Protocol on the pipes (JSON lines):

- stdin, first line: the start spec ``{"yaml", "checkpoint_id", "token", "state_dir", "store",
  "lease_deadline", "parameters", "children"}``; then ``{"renew": deadline}`` and ``{"stop": true,
  "reason": ...}`` (reason ``lease_expired`` when the agent saw the lease run out first).
  End of stdin means the agent is gone: the worker stops (a dead agent cannot renew the lease anyway).
  ``parameters`` (not null) makes this a child run: ``${params.NAME}`` filled, no checkpoints.
- stdout: ``{"event": "started"}``, ``{"event": "stats", "time", "records_in", "records_out", "errors",
  "components": {id: {kind, type, records_in, records_out, errors, dead_letters, dropped, retries,
  restarts, buffered, lag}}}`` every second, ``{"event": "child", "pipeline", "parameters"}`` per child
  run requested (a ``trigger`` stage, or a record for the pipelines in ``children``), and one final
  ``{"event": "finished", "status": ..., "error": ...}``; status is ``succeeded``, ``failed``,
  ``stopped``, ``fenced`` (a checkpoint write was rejected: another agent owns the pipeline) or
  ``lease_expired`` (not renewed in time: stopped to avoid running twice).

This module is the seam for supervision: it builds a core ``PipelineRun`` directly, so swapping
in a supervised (Thespian) run keeps the agent side unchanged.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from conduix.api import Pipeline
from conduix.builtins.trigger import parameters_from
from conduix.checkpoint import CheckpointStore, FallbackCheckpointStore, FileCheckpointStore, open_store
from conduix.config import load_pipeline_text
from conduix.plugins import get_plugin_host
from conduix.project import CHILDREN_SINK, add_children_sink
from conduix.runtime import PipelineRun
from conduix_control.errors import StaleLeaseError
from conduix_control.fencing import FencedRedisCheckpointStore

__all__ = ["build_store", "main"]

logger = logging.getLogger("conduix_control.worker")
_out_lock = threading.Lock()


def emit(event: str, **data: Any) -> None:
    line = json.dumps({"event": event, **data}, default=str)  # record values (dates...) as text
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def build_store(store_url: str | None, token: int, state_dir: Path) -> CheckpointStore:
    """Redis with fencing (and local files as fallback) when the store is Redis, else files."""
    files = FileCheckpointStore(state_dir / "checkpoints")
    if store_url and store_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return FallbackCheckpointStore(FencedRedisCheckpointStore(store_url, token), files, retry_after=2.0)
    return open_store(store_url, state_dir) if store_url else files


def _components(run: PipelineRun) -> dict[str, dict[str, Any]]:
    """Per component: its counters, and a source's consumer lag."""
    out: dict[str, dict[str, Any]] = {}
    for cid, node in run.nodes.items():
        if cid == CHILDREN_SINK:
            continue
        s = node.stats
        out[cid] = {"kind": s.kind, "type": s.type, "records_in": s.records_in, "records_out": s.records_out,
                    "errors": s.errors, "dead_letters": s.dead_letters, "dropped": s.dropped, "retries": s.retries,
                    "restarts": s.restarts, "buffered": s.buffered, "lag": None}
        partitions = node.lag()  # a source's consumer lag, summed over its partitions
        if partitions is not None:
            out[cid]["lag"] = int(sum(partitions.values()))
    return out


def _totals(run: PipelineRun) -> dict[str, Any]:
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
        host = get_plugin_host()
        pipeline = Pipeline(load_pipeline_text(spec["yaml"], registry=host.registry, default_name=spec["checkpoint_id"],
                                               params=parameters), host)
        pipeline.spec.name = spec["checkpoint_id"]  # checkpoints are kept per replica (per run for a child run)
        store_url = pipeline.spec.settings.checkpoint.store or spec.get("store")  # the pipeline's own store wins
        self.store = build_store(store_url, int(spec["token"]), state_dir)
        self.children: list[dict[str, Any]] = list(spec.get("children") or [])
        self._held: list[dict[str, Any]] = []  # records whose child runs start after this run succeeded
        if self.children:  # its records start child runs of the pipelines declaring it their parent
            add_children_sink(pipeline.spec)
        self.run = PipelineRun(pipeline.spec, state_dir=state_dir, parameters=parameters,
                               hooks=pipeline.host.manager if pipeline.host else None,
                               services={"request_child": request_child, "parent_records": self.parent_records},
                               # a child run is retried whole: it keeps no position of its own
                               checkpoints=None if parameters is not None else _Guard(self.store, self))

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
        for line in sys.stdin:
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

    def main(self) -> int:
        self.run.start()
        emit("started")
        threading.Thread(target=self.read_stdin, daemon=True).start()
        threading.Thread(target=self.watch_lease, daemon=True).start()
        while not self.run.join(1.0):
            emit("stats", **_totals(self.run))
        result = self.run.result
        status = "succeeded" if result is not None and result.ok else "failed"
        error = str(result.error) if result is not None and result.error else None
        if self.fenced:
            status, error = "fenced", self.fenced
        elif self.reason == "lease_expired":
            status, error = "lease_expired", "lease not renewed in time (agent cut off or paused)"
        elif self.reason is not None and status == "succeeded":
            status = "stopped"
        if status == "succeeded":
            self._release_children()  # before "finished": the agent forwards events in order
        emit("finished", status=status, error=error, **_totals(self.run))
        self.store.close()
        return 0


class _Guard(CheckpointStore):
    """Passes checkpoints through; a fenced write stops the run (another agent owns the pipeline)."""

    def __init__(self, store: CheckpointStore, worker: Worker) -> None:
        self.store = store
        self.worker = worker

    def _fenced(self, exc: StaleLeaseError) -> None:
        if self.worker.fenced is None:
            self.worker.fenced = str(exc)
            logger.error("%s", exc)
            emit("fenced", error=str(exc))
            threading.Thread(target=self.worker.run.stop, daemon=True).start()

    def load(self, pipeline_id: str) -> dict[str, Any] | None:
        try:  # loading reconciles local and Redis copies, which may write: fenced too
            return self.store.load(pipeline_id)
        except StaleLeaseError as exc:
            self._fenced(exc)
            raise

    def save(self, pipeline_id: str, checkpoint: dict[str, Any]) -> None:
        try:
            self.store.save(pipeline_id, checkpoint)
        except StaleLeaseError as exc:
            self._fenced(exc)
            raise

    def delete(self, pipeline_id: str) -> None:
        self.store.delete(pipeline_id)

    def list(self) -> list[str]:
        return self.store.list()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s worker[%(process)d] %(name)s: %(message)s")
    spec = json.loads(sys.stdin.readline())
    return Worker(spec).main()


if __name__ == "__main__":
    sys.exit(main())
