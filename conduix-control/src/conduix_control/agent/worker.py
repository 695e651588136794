"""One pipeline run in its own process: ``python -m conduix_control.agent.worker``.

The agent starts one worker per assignment, so a crashing or memory-hungry pipeline takes down
only itself. Protocol on the pipes (JSON lines):

- stdin, first line: the start spec ``{"yaml", "checkpoint_id", "token", "state_dir", "store",
  "lease_deadline", "parameters"}``; then ``{"renew": deadline}`` and ``{"stop": true, "reason": ...}``
  (reason ``lease_expired`` when the agent saw the lease run out first).
  End of stdin means the agent is gone: the worker stops (a dead agent cannot renew the lease anyway).
- stdout: ``{"event": "started"}``, ``{"event": "stats", ...}`` every second, and one final
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
from conduix.checkpoint import CheckpointStore, FallbackCheckpointStore, FileCheckpointStore, open_store
from conduix.runtime import PipelineRun
from conduix_control.errors import StaleLeaseError
from conduix_control.fencing import FencedRedisCheckpointStore

__all__ = ["build_store", "main"]

logger = logging.getLogger("conduix_control.worker")
_out_lock = threading.Lock()


def emit(event: str, **data: Any) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()


def build_store(store_url: str | None, token: int, state_dir: Path) -> CheckpointStore:
    """Redis with fencing (and local files as fallback) when the store is Redis, else files."""
    files = FileCheckpointStore(state_dir / "checkpoints")
    if store_url and store_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return FallbackCheckpointStore(FencedRedisCheckpointStore(store_url, token), files, retry_after=2.0)
    return open_store(store_url, state_dir) if store_url else files


def _totals(run: PipelineRun) -> dict[str, int]:
    stats = run.stats()
    return {"records_in": sum(s.records_out for s in stats.values() if s.kind == "source"),
            "records_out": sum(s.records_in for s in stats.values() if s.kind == "sink"),
            "errors": sum(s.errors for s in stats.values())}


class Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.deadline = float(spec["lease_deadline"])
        self.reason: str | None = None  # why we stopped the run ourselves
        self.fenced: str | None = None
        state_dir = Path(spec["state_dir"])
        pipeline = Pipeline.from_text(spec["yaml"], name=spec["checkpoint_id"])
        pipeline.spec.name = spec["checkpoint_id"]  # checkpoints are kept per replica
        store_url = pipeline.spec.settings.checkpoint.store or spec.get("store")  # the pipeline's own store wins
        self.store = build_store(store_url, int(spec["token"]), state_dir)
        self.run = PipelineRun(pipeline.spec, state_dir=state_dir, parameters=spec.get("parameters"),
                               hooks=pipeline.host.manager if pipeline.host else None,
                               checkpoints=_Guard(self.store, self))

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
