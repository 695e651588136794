"""The endpoint of a supervised run: the supervision tree's status, readiness and metrics.

Records and their counters live in the worker processes; each worker reports a
status snapshot with its heartbeat, and this backend turns the latest tree
status into Prometheus metrics (worker restarts included).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["SupervisedBackend"]

_COUNTERS = ("records_in", "records_out", "bytes_in", "bytes_out", "batches_in", "batches_out", "dead_letters",
             "dropped", "retries", "acknowledged", "errors")


class SupervisedBackend:
    def __init__(self, pipeline: str) -> None:
        from prometheus_client import CollectorRegistry

        self.pipeline = pipeline
        self.tree: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.registry.register(_TreeCollector(self))

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

    def metrics_text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def status(self) -> dict[str, Any]:
        pipelines = []
        for worker in self.workers():
            task = worker.get("task") or {}
            pipelines.append({"pipeline": self.pipeline, "worker": worker.get("id"), "state": worker.get("state"),
                              "restarts": worker.get("restarts", 0), "components": task.get("components", {})})
        return {"pipelines": pipelines, "tree": self.snapshot()}

    def ready(self) -> tuple[bool, list[str]]:
        tree = self.snapshot()
        if tree.get("state") != "running":
            return False, [f"the supervision tree of {self.pipeline!r} is {tree.get('state', 'starting')}"
                           + (f": {tree['reason']}" if tree.get("reason") else "")]
        reasons = [f"worker {w.get('id')!r} is {w.get('state')}" for w in self.workers() if w.get("state") != "running"]
        return not reasons, reasons

    def tap_target(self, pipeline: str | None, component: str) -> tuple[None, list[str]]:
        return None, []


class _TreeCollector:
    def __init__(self, backend: SupervisedBackend) -> None:
        self.backend = backend

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        pipeline = self.backend.pipeline
        restarts = CounterMetricFamily("conduix_restarts", "Restarts of a worker by its supervisor.",
                                       labels=["pipeline", "component", "kind", "type"])
        counters = {name: CounterMetricFamily(f"conduix_{name}", f"{name.replace('_', ' ')} per component.",
                                              labels=["pipeline", "component", "kind", "type", "worker"])
                    for name in _COUNTERS}
        for worker in self.backend.workers():
            wid = str(worker.get("id"))
            restarts.add_metric([pipeline, wid, "worker", "worker"], float(worker.get("restarts", 0)))
            for cid, stats in ((worker.get("task") or {}).get("components") or {}).items():
                labels = [pipeline, cid, str(stats.get("kind")), str(stats.get("type")), wid]
                for name, family in counters.items():
                    family.add_metric(labels, float(stats.get(name, 0)))
        up = GaugeMetricFamily("conduix_up", "1 while the pipeline runs.", labels=["pipeline"])
        up.add_metric([pipeline], 1.0 if self.backend.snapshot().get("state") == "running" else 0.0)
        yield restarts
        yield from counters.values()
        yield up
