"""The endpoint of a supervised run: the supervision tree's status, readiness and metrics.

Records and their counters live in the worker processes; each worker reports a
status snapshot with its heartbeat, its run's metrics included as Prometheus text
(:class:`~conduix.runtime.task.PipelineTask`). This backend serves those, each
with a ``worker`` label, plus what only the supervisors know (restarts, up): the
same metric names as an in-process run (histograms, lag, checkpoint failures).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from conduix.observability.exposition import MergedCollector, Part

__all__ = ["SupervisedBackend"]


class SupervisedBackend:
    def __init__(self, pipeline: str) -> None:
        from prometheus_client import CollectorRegistry

        self.pipeline = pipeline
        self.tree: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.registry.register(MergedCollector(self._worker_metrics, lambda: _tree_families(self)))

    def update(self, tree: dict[str, Any]) -> None:
        with self._lock:
            self.tree = tree

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.tree

    def workers(self) -> Iterator[dict[str, Any]]:
        def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
            for child in node.get("children") or []:
                if child.get("kind") == "supervisor":
                    yield from walk(child)
                else:
                    yield child

        yield from walk(self.snapshot())

    def _worker_metrics(self) -> Iterator[Part]:
        for worker in self.workers():
            text = (worker.get("task") or {}).get("metrics")
            if text:
                yield str(text), {"worker": str(worker.get("id"))}

    def metrics_text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def status(self) -> dict[str, Any]:
        pipelines = []
        for worker in self.workers():
            task = worker.get("task") or {}
            pipelines.append({"pipeline": self.pipeline, "worker": worker.get("id"), "state": worker.get("state"),
                              "restarts": worker.get("restarts", 0), "components": task.get("components", {})})
        from conduix.runtime.supervised import without_metrics

        return {"pipelines": pipelines, "tree": without_metrics(self.snapshot())}

    def ready(self) -> tuple[bool, list[str]]:
        tree = self.snapshot()
        if tree.get("state") != "running":
            return False, [f"the supervision tree of {self.pipeline!r} is {tree.get('state', 'starting')}"
                           + (f": {tree['reason']}" if tree.get("reason") else "")]
        reasons = [f"worker {w.get('id')!r} is {w.get('state')}" for w in self.workers() if w.get("state") != "running"]
        return not reasons, reasons

    def tap_target(self, pipeline: str | None, component: str) -> tuple[None, list[str]]:
        return None, []


def _tree_families(backend: SupervisedBackend) -> Iterator[Any]:
    """What the supervisors know and the workers cannot tell: restarts per worker, and whether the run is up."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    pipeline = backend.pipeline
    restarts = CounterMetricFamily("conduix_restarts", "Restarts of a worker by its supervisor.",
                                   labels=["pipeline", "component", "kind", "type", "worker"])
    for worker in backend.workers():
        wid = str(worker.get("id"))
        restarts.add_metric([pipeline, wid, "worker", "worker", wid], float(worker.get("restarts", 0)))
    up = GaugeMetricFamily("conduix_up", "1 while the pipeline runs.", labels=["pipeline"])
    up.add_metric([pipeline], 1.0 if backend.snapshot().get("state") == "running" else 0.0)
    yield restarts
    yield up
