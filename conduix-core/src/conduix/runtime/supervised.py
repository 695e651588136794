"""Run a pipeline under the supervision tree: each slice a worker process, supervisors restarting them.

The flat format runs under a default tree (a root supervisor with one worker per
``settings.workers`` slice); the hierarchical format's supervisors become the
tree, and each of its sources becomes a worker running that source and
everything downstream of it. :class:`SupervisedRun` is the handle
:meth:`conduix.Pipeline.start` returns for such a run: the same methods as an
in-process :class:`~conduix.runtime.PipelineRun`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

from conduix.checkpoint import StoreOpener
from conduix.config.model import SupervisionSettings
from conduix.config.spec import PipelineSpec, SupervisionNode
from conduix.errors import ConduixError, ConfigError, PipelineError
from conduix.redaction import redact
from conduix.runtime.runner import RunEnd, RunResult
from conduix.runtime.stats import ComponentStats

__all__ = ["SupervisedRun", "build_tree", "root_settings", "wants_supervision"]

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


def _workers(spec: PipelineSpec, base: dict[str, Any], prefix: str, sources: list[str] | None) -> list[Any]:
    from conduix.supervision import TaskSpec, WorkerSpec

    planned = _planned_slices(spec, sources)
    if planned is not None:  # one worker per slice the source planned (e.g. per Kafka partition)
        source_id, slices = planned
        found = []
        for i, piece in enumerate(slices):
            worker_id = f"{source_id}-{piece.get('label', i)}"
            found.append(WorkerSpec(worker_id, TaskSpec(TASK_FACTORY, {
                **base, "worker_id": worker_id, "sources": [source_id], "slice_index": i,
                "slice_count": len(slices), "slice_params": piece})))
        return found
    count = spec.settings.workers
    workers = []
    for index in range(count):
        worker_id = prefix if count == 1 else f"{prefix}-{index}"
        kwargs = {**base, "worker_id": worker_id, "sources": sources, "slice_index": index, "slice_count": count}
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


def root_settings(spec: PipelineSpec) -> SupervisionSettings:
    """The root supervisor's settings: the hierarchical format's top level, else the ``supervision:`` block."""
    if spec.supervision is not None:
        return spec.supervision.settings
    return SupervisionSettings.model_validate(spec.raw.get("supervision") or {})


def build_tree(spec: PipelineSpec, state_dir: Path, parameters: dict[str, Any] | None = None,
               components: dict[str, str] | None = None, store: StoreOpener | None = None) -> Any:
    """The SupervisorSpec tree for ``spec``; each worker rebuilds the pipeline from its YAML text (a pipeline
    given as a dict is written out as YAML) and ``components`` (type name -> ``module:attribute`` of the
    classes or functions given to :class:`~conduix.Pipeline` in Python), and opens its checkpoint store with
    ``store`` (default: the one the pipeline's settings name)."""
    text = spec.text if spec.text is not None else yaml.safe_dump(spec.raw, sort_keys=False)
    base = {"text": text, "file": spec.file, "name": spec.name, "state_dir": str(state_dir),
            "parameters": parameters or {}, "components": components or {},
            "store": dataclasses.asdict(store) if store is not None else None}
    if spec.supervision is None:
        return _name_checkpoints(_supervisor("root", root_settings(spec), _workers(spec, base, "worker", None)),
                                 spec.name)

    def convert(node: SupervisionNode) -> Any | None:
        children: list[Any] = []
        for child in node.children:
            if isinstance(child, SupervisionNode):
                sub = convert(child)
                if sub is not None:
                    children.append(sub)
            elif spec.components[child].kind == "source":
                children.extend(_workers(spec, base, child, [child]))
        if not children:
            return None  # stages and sinks run inside the workers of the sources feeding them
        return _supervisor(node.id, node.settings, children)

    tree = convert(spec.supervision)
    if tree is None:
        raise ConfigError("the supervision tree holds no source", hint="add a child of type source")
    return _name_checkpoints(tree, spec.name)


def _name_checkpoints(tree: Any, name: str) -> Any:
    """Each worker's checkpoint id: the pipeline's name for a single worker, ``<pipeline>.<worker id>`` when
    there are several (docs/supervision.md)."""
    from conduix.supervision import SupervisorSpec

    def workers(node: Any) -> list[Any]:
        return [w for child in node.children for w in workers(child)] if isinstance(node, SupervisorSpec) else [node]

    found = workers(tree)
    for worker in found:
        worker.task.kwargs["checkpoint_id"] = name if len(found) == 1 else f"{name}.{worker.id}"
    return tree


def _walk_workers(node: dict[str, Any], found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for child in node.get("children") or []:
        if child.get("kind") == "supervisor":
            _walk_workers(child, found)
        else:
            found[str(child.get("id", "?"))] = child
    return found


def _summed(workers: dict[str, dict[str, Any]]) -> dict[str, ComponentStats]:
    """Per component, the counters of every worker added up."""
    total: dict[str, ComponentStats] = {}
    for worker in workers.values():
        for cid, counters in ((worker.get("task") or {}).get("components") or {}).items():
            stats = total.get(cid)
            if stats is None:
                stats = total[cid] = ComponentStats(cid, str(counters.get("kind")), str(counters.get("type")))
            for name, value in counters.items():
                if name == "errors_by_kind" and isinstance(value, dict):
                    for kind, n in value.items():
                        stats.errors_by_kind[kind] = stats.errors_by_kind.get(kind, 0) + int(n)
                elif isinstance(value, int) and not isinstance(value, bool) and hasattr(stats, name):
                    setattr(stats, name, getattr(stats, name) + value)
    return total


class SupervisedRun(RunEnd):
    """A pipeline running as supervised worker processes; the same handle as an in-process run.

    :meth:`start` runs the supervision tree from a background thread (:meth:`run_here` from the calling
    thread) until every worker finished, the root supervisor paused (restart budget spent) more often in a
    row than ``supervision.resume.max_attempts`` allows, or :meth:`stop` was called; the actor system is
    shut down in every case. While paused, :attr:`paused` says why and when the tree resumes by itself
    (with a fresh budget, on the ``supervision.resume`` schedule). The tree's status is written to
    ``<state_dir>/status/<pipeline>.json`` as it changes, and served on ``metrics_port`` when one is given
    (once the actor system has forked, so no worker process inherits the listening socket).
    """

    supervised = True

    def __init__(self, spec: PipelineSpec, *, state_dir: Path, parameters: dict[str, Any] | None = None,
                 components: dict[str, str] | None = None, admin_port: int | None = None,
                 run_id: str | None = None, metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
                 poll: float = 0.25, store: StoreOpener | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.admin_port = admin_port
        self.metrics_port, self.metrics_host = metrics_port, metrics_host
        self.metrics_url: str | None = None
        self.poll = poll
        self.tree_status: dict[str, Any] = {}
        self.paused: dict[str, Any] | None = None
        """While the root is paused: ``reason``, ``since``, ``resume_at`` (epoch seconds, None when it will not
        resume by itself), ``attempt`` and ``max_attempts`` of the automatic resumes."""
        self.result: RunResult | None = None
        self._resume = root_settings(spec).resume
        self._within = root_settings(spec).within_seconds
        self._tree_spec = build_tree(spec, self.state_dir, parameters, components, store)  # config errors now
        self._stop = threading.Event()
        self._abort_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        from conduix.observability.supervised_backend import SupervisedBackend

        self.backend = SupervisedBackend(spec.name)  #: the tree's status as metrics (served on ``metrics_port``)

    # -- running ------------------------------------------------------------------------------
    def start(self) -> SupervisedRun:
        """Start the tree from a background thread; returns at once."""
        self._thread = threading.Thread(target=self.run_here, name=f"conduix-supervised-{self.run_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def run_here(self) -> RunResult:
        """Run the tree from this thread until the run ends; returns the result."""
        started = time.monotonic()
        outcome, reason = "failed", None
        try:
            outcome, reason = self._supervise()
        except ConduixError as exc:
            reason = str(exc)
        except Exception as exc:  # the actor system itself failed: the run failed, say why
            logger.exception("supervised run of %s failed", self.spec.name)
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            if self._server is not None:
                self._server.stop()
            if self._abort_reason is not None:
                outcome, reason = "failed", reason or self._abort_reason
            self._finish(outcome, reason, time.monotonic() - started)
        assert self.result is not None
        return self.result

    def _supervise(self) -> tuple[str, str | None]:
        from conduix.supervision import SupervisionSystem, default_log_defs

        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        status_file = self.state_dir / "status" / f"{self.spec.name}.json"
        status_file.parent.mkdir(parents=True, exist_ok=True)
        outcome, reason = "failed", None
        resumes, resumed_at = 0, 0.0  # automatic resumes in a row, and when the last one was
        with SupervisionSystem(self.admin_port, log_defs=default_log_defs(level)) as system:
            tree = system.start(self._tree_spec)
            while True:
                if self._stop.is_set():
                    logger.info("stopping the supervision tree of %s", self.spec.name)
                    self.tree_status = tree.stop() or self.tree_status
                    outcome = "stopped"
                    break
                try:
                    status = tree.status()
                except Exception as exc:  # the root is gone: the run failed
                    outcome, reason = "failed", f"the supervision tree stopped answering: {exc}"
                    break
                self.tree_status = status
                self.backend.update(status)
                _write_status(status_file, status)
                if self.metrics_port is not None:
                    self._serve()
                state = status.get("state")
                if state == "finished":
                    outcome = "succeeded"
                    break
                if state == "paused":
                    if resumes and time.monotonic() - resumed_at > self._within:
                        resumes = 0  # the last resume held: this is a new outage
                    if not self._wait_paused(status, resumes, status_file):
                        outcome, reason = "paused", status.get("reason")
                        self.tree_status = tree.stop() or self.tree_status
                        break
                    if self._stop.is_set():
                        continue
                    logger.warning("pipeline %s: resuming the supervision tree (automatic resume %d%s)",
                                   self.spec.name, resumes + 1, _of(self._resume.max_attempts))
                    tree.resume()
                    self.paused = None
                    resumes, resumed_at = resumes + 1, time.monotonic()
                    continue
                if state in ("stopped", "down"):
                    outcome, reason = "failed", status.get("reason") or f"the supervision tree is {state}"
                    break
                self._stop.wait(self.poll)
        errors = {cid: s.errors for cid, s in _summed(_walk_workers(self.tree_status, {})).items() if s.errors}
        _write_status(status_file, {**self.tree_status, "outcome": outcome, "reason": reason, "errors": errors})
        return outcome, reason

    def _wait_paused(self, status: dict[str, Any], resumes: int, status_file: Path) -> bool:
        """The root gave up: wait for the next automatic resume (or a stop); False when none is left."""
        limit = self._resume.max_attempts
        left = limit is None or resumes < limit
        delay = self._resume.delay(resumes) if left else None
        now = time.time()
        self.paused = {"reason": status.get("reason"), "since": now,
                       "resume_at": now + delay if delay is not None else None,
                       "attempt": resumes + 1 if left else None, "max_attempts": limit}
        self.tree_status = {**status, "resume": self.paused}
        self.backend.update(self.tree_status)
        _write_status(status_file, self.tree_status)
        if delay is None:
            logger.error("pipeline %s paused: %s; no automatic resume left (%d in a row)", self.spec.name,
                         status.get("reason"), resumes)
            return False
        logger.error("pipeline %s paused: %s; resuming by itself in %.1f s (automatic resume %d%s)",
                     self.spec.name, status.get("reason"), delay, resumes + 1, _of(limit))
        self._stop.wait(delay)
        return True

    def _serve(self) -> None:
        if self._server is None:  # started once the actor system has forked: no worker inherits its socket
            from conduix.observability.server import ObservabilityServer

            self._server = ObservabilityServer(self.backend, self.metrics_host, self.metrics_port or 0).start()
            self.metrics_url = self._server.url

    def metrics_text(self) -> bytes:
        """The run's metrics as Prometheus text: every worker's (label ``worker``), restarts, up."""
        return self.backend.metrics_text()

    def _finish(self, outcome: str, reason: str | None, duration: float) -> None:
        workers = _walk_workers(self.tree_status, {})
        error = None if outcome in ("succeeded", "stopped") else PipelineError(
            f"pipeline {self.spec.name!r} {outcome}: {reason or 'no reason given'}")
        self.result = RunResult(
            pipeline=self.spec.name, run_id=self.run_id, status=outcome, error=error, duration=duration,
            stats=_summed(workers), supervised=True, reason=reason,
            restarts=int(self.tree_status.get("restarts_total") or 0),
            workers={wid: {"state": w.get("state"), "restarts": w.get("restarts", 0),
                           "components": (w.get("task") or {}).get("components", {})}
                     for wid, w in workers.items()})
        self._ended()

    # -- the run handle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every worker gracefully (drain, flush, final checkpoint), then the actor system."""
        self._stop.set()

    def abort(self, reason: str = "aborted") -> None:
        """Stop, and let the run end ``failed`` with ``reason``."""
        if self._abort_reason is None:
            self._abort_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def error(self) -> BaseException | None:
        return self.result.error if self.result is not None else None

    def stats(self) -> dict[str, ComponentStats]:
        """Per component, summed over the workers (as of their last heartbeat)."""
        if self.result is not None:
            return self.result.stats
        return _summed(_walk_workers(self.tree_status, {}))

    def lag(self) -> dict[str, int]:
        """Per source, its consumer lag summed over the workers that report one (as of their last heartbeat)."""
        total: dict[str, int] = {}
        for worker in _walk_workers(self.tree_status, {}).values():
            for cid, counters in ((worker.get("task") or {}).get("components") or {}).items():
                if isinstance(counters.get("lag"), int):
                    total[cid] = total.get(cid, 0) + counters["lag"]
        return total

    def status(self) -> dict[str, Any]:
        state = "done" if self.done else ("stopping" if self.stopping else self.tree_status.get("state", "starting"))
        return {"pipeline": self.spec.name, "run_id": self.run_id, "state": state, "supervised": True,
                "error": None if self.error is None else str(self.error), "paused": self.paused,
                "components": {cid: s.as_dict() for cid, s in self.stats().items()},
                "tree": without_metrics(self.tree_status)}

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


def without_metrics(node: dict[str, Any]) -> dict[str, Any]:
    """A tree status without the workers' metrics texts (for people: they read ``/metrics``)."""
    node = dict(node)
    if isinstance(node.get("task"), dict):
        node["task"] = {k: v for k, v in node["task"].items() if k != "metrics"}
    if node.get("children"):
        node["children"] = [without_metrics(child) for child in node["children"]]
    return node


def _of(limit: int | None) -> str:
    return "" if limit is None else f" of {limit}"


def _write_status(path: Path, status: dict[str, Any]) -> None:
    """The tree's status for operators and tools: ``<state_dir>/status/<pipeline>.json`` (atomic)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(orjson.dumps(without_metrics(status), default=str).decode()), encoding="utf-8")
    tmp.replace(path)
