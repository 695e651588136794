"""Run a pipeline under the supervision tree: each slice a worker process, supervisors restarting them.

The flat format runs under a default tree (a root supervisor with one worker per
``settings.workers`` slice); the hierarchical format's supervisors become the
tree, and each of its sources becomes a worker running that source and
everything downstream of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from conduix.config.model import SupervisionSettings
from conduix.config.spec import PipelineSpec, SupervisionNode
from conduix.errors import ConfigError

__all__ = ["SupervisedResult", "build_tree", "run_supervised", "wants_supervision"]

logger = logging.getLogger(__name__)

TASK_FACTORY = "conduix.runtime.task:pipeline_task"


def wants_supervision(spec: PipelineSpec) -> bool:
    """The hierarchical format, a ``supervision:`` block, or several workers mean a supervised run."""
    return (spec.format == "actor" or "supervision" in spec.raw or spec.settings.workers > 1
            or any(callable(getattr(c.cls, "plans_slices", None)) and c.cls.plans_slices(c.config)
                   for c in spec.of_kind("source")))


def _supervisor(node_id: str, settings: SupervisionSettings, children: list[Any]) -> Any:
    from conduix.supervision import BackoffSpec, SupervisorSpec

    b = settings.backoff
    return SupervisorSpec(node_id, children=children, strategy=settings.strategy,
                          max_restarts=settings.max_restarts, within_seconds=settings.within_seconds,
                          backoff=BackoffSpec(initial=b.initial, max=b.max, multiplier=b.multiplier,
                                              jitter=min(b.jitter, 0.99)))


def _workers(spec: PipelineSpec, state_dir: Path, prefix: str, sources: list[str] | None,
             parameters: dict[str, Any] | None) -> list[Any]:
    from conduix.supervision import TaskSpec, WorkerSpec

    planned = _planned_slices(spec, sources)
    if planned is not None:  # one worker per slice the source planned (e.g. per Kafka partition)
        source_id, slices = planned
        return [WorkerSpec(f"{source_id}-{piece.get('label', i)}", TaskSpec(TASK_FACTORY, {
            "text": spec.text, "file": spec.file, "name": spec.name, "state_dir": str(state_dir),
            "worker_id": f"{source_id}-{piece.get('label', i)}", "sources": [source_id], "slice_index": i,
            "slice_count": len(slices), "parameters": parameters or {}, "slice_params": piece}))
            for i, piece in enumerate(slices)]
    count = spec.settings.workers
    workers = []
    for index in range(count):
        worker_id = prefix if count == 1 else f"{prefix}-{index}"
        kwargs = {"text": spec.text, "file": spec.file, "name": spec.name, "state_dir": str(state_dir),
                  "worker_id": worker_id, "sources": sources, "slice_index": index, "slice_count": count,
                  "parameters": parameters or {}}
        workers.append(WorkerSpec(worker_id, TaskSpec(TASK_FACTORY, kwargs)))
    return workers


def _planned_slices(spec: PipelineSpec, sources: list[str] | None) -> tuple[str, list[dict[str, Any]]] | None:
    """The one source (of ``sources``, or of the pipeline) that plans its own slices, with its plan."""
    candidates = [spec.components[s] for s in sources] if sources else spec.of_kind("source")
    for component in candidates:
        slices = component.cls.plan_slices(component.config)
        if slices is not None:
            if len(candidates) > 1:
                raise ConfigError(f"source {component.id!r} runs a worker per slice, so it must be alone in its "
                                  "workers", hint="put each source in its own supervisor (type: actor)")
            if not slices:
                raise ConfigError(f"source {component.id!r} found nothing to read (no partitions)")
            return component.id, slices
    return None


def build_tree(spec: PipelineSpec, state_dir: Path, parameters: dict[str, Any] | None = None) -> Any:
    """The SupervisorSpec tree for ``spec``."""
    if spec.text is None:
        raise ConfigError("a supervised pipeline must come from YAML text (Pipeline.from_yaml / from_text)")
    if spec.supervision is None:
        settings = SupervisionSettings.model_validate(spec.raw.get("supervision") or {})
        return _supervisor("root", settings, _workers(spec, state_dir, "worker", None, parameters))

    def convert(node: SupervisionNode) -> Any | None:
        children: list[Any] = []
        for child in node.children:
            if isinstance(child, SupervisionNode):
                sub = convert(child)
                if sub is not None:
                    children.append(sub)
            elif spec.components[child].kind == "source":
                children.extend(_workers(spec, state_dir, child, [child], parameters))
        if not children:
            return None  # stages and sinks run inside the workers of the sources feeding them
        return _supervisor(node.id, node.settings, children)

    tree = convert(spec.supervision)
    if tree is None:
        raise ConfigError("the supervision tree holds no source", hint="add a child of type source")
    return tree


@dataclass
class SupervisedResult:
    pipeline: str
    status: str  # succeeded, stopped, paused, failed
    reason: str | None
    duration: float
    tree: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "stopped")

    def workers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}

        def walk(node: dict[str, Any]) -> None:
            if node.get("kind") == "supervisor":
                for child in node.get("children") or []:
                    walk(child)
            else:
                found[node.get("id", "?")] = node

        walk(self.tree)
        return found

    def restarts(self) -> int:
        return sum(int(w.get("restarts", 0)) for w in self.workers().values())


def run_supervised(spec: PipelineSpec, *, state_dir: Path, admin_port: int | None = None,
                   parameters: dict[str, Any] | None = None, stop_requested: Callable[[], bool] = lambda: False,
                   on_status: Callable[[dict[str, Any]], None] | None = None, poll: float = 0.5) -> SupervisedResult:
    """Start the tree, wait until every worker finished, the root paused (restart budget spent), or
    ``stop_requested()`` turns true (then stop gracefully); shut the actor system down in every case."""
    from conduix.supervision import SupervisionSystem, default_log_defs

    tree_spec = build_tree(spec, state_dir, parameters)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    status_file = state_dir / "status" / f"{spec.name}.json"
    status_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    status: dict[str, Any] = {}
    outcome, reason = "failed", None
    with SupervisionSystem(admin_port, log_defs=default_log_defs(level)) as system:
        tree = system.start(tree_spec)
        while True:
            if stop_requested():
                logger.info("stopping the supervision tree of %s", spec.name)
                tree.stop()
                outcome = "stopped"
                break
            try:
                status = tree.status()
            except Exception as exc:  # the root is gone: the run failed
                outcome, reason = "failed", f"the supervision tree stopped answering: {exc}"
                break
            _write_status(status_file, status)
            if on_status is not None:
                on_status(status)
            state = status.get("state")
            if state == "finished":
                outcome = "succeeded"
                break
            if state == "paused":
                outcome, reason = "paused", status.get("reason")
                break
            if state in ("stopped", "down"):
                outcome, reason = "failed", status.get("reason") or f"the supervision tree is {state}"
                break
            time.sleep(poll)
        if outcome == "paused":
            tree.stop()
    _write_status(status_file, {**status, "outcome": outcome, "reason": reason})
    return SupervisedResult(spec.name, outcome, reason, time.monotonic() - started, status)


def _write_status(path: Path, status: dict[str, Any]) -> None:
    """The tree's status for operators and tools: ``<state_dir>/status/<pipeline>.json`` (atomic)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(status, default=str))
    tmp.replace(path)
