"""Build the threads of a pipeline from its spec, run them, stop them, report."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from conduix.components import Context
from conduix.config.model import BufferSettings
from conduix.config.spec import PipelineSpec
from conduix.errors import ConduixError, PipelineError
from conduix.paths import default_state_dir
from conduix.redaction import redact
from conduix.runtime.nodes import Edge, Node, RunControl, SinkNode, SourceNode, StageNode
from conduix.runtime.stats import ComponentStats

__all__ = ["PipelineRun", "RunResult", "default_state_dir"]

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """How a run ended, in-process or supervised.

    ``status`` is ``succeeded`` or ``failed`` for an in-process run; a supervised run also ends
    ``stopped`` (asked to stop) or ``paused`` (its supervisor spent the restart budget; ``error`` and
    ``reason`` say why). ``stats`` are per component (summed over the workers of a supervised run);
    ``components`` holds the component instances of an in-process run (empty when supervised: they
    lived in the worker processes), ``workers`` each worker's final state, restarts and counters.
    """

    pipeline: str
    run_id: str
    status: str
    error: BaseException | None
    duration: float
    stats: dict[str, ComponentStats] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)
    supervised: bool = False
    reason: str | None = None
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    restarts: int = 0
    """Every restart in a supervised run's tree: of workers, and of supervisors with all they restarted."""

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "stopped")

    @property
    def errors(self) -> dict[str, int]:
        """Records each component failed on (dropped or dead-lettered by ``on_error``, or passed on unchanged
        by a failing remap program); only components with errors. A run that ``succeeded`` with errors exits
        with status 3 from ``conduix run``."""
        return {cid: s.errors for cid, s in self.stats.items() if s.errors}

    def as_dict(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "pipeline": self.pipeline, "run_id": self.run_id, "status": self.status,
            "error": None if self.error is None else redact(str(self.error)), "duration": round(self.duration, 3),
            "errors": self.errors, "components": {cid: s.as_dict() for cid, s in self.stats.items()},
        }
        if self.supervised:
            summary.update(reason=self.reason, restarts=self.restarts, workers=self.workers)
        return summary


class RunEnd:
    """What an in-process and a supervised run share about their end: :meth:`join`, :attr:`done`, and
    callbacks called once the run has ended, before :meth:`join` returns."""

    run_id: str

    def __init__(self) -> None:
        self._done = threading.Event()
        self._callbacks: list[Callable[[], None]] | None = []  # None once the run has ended
        self._callbacks_lock = threading.Lock()

    def join(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the run has ended, before :meth:`join` returns (at once when it has)."""
        with self._callbacks_lock:
            if self._callbacks is not None:
                self._callbacks.append(callback)
                return
        callback()

    def _ended(self) -> None:
        """The run has ended (its result is set): call the callbacks, then let :meth:`join` return."""
        with self._callbacks_lock:
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            try:
                callback()
            except Exception:
                logger.exception("a callback at the end of run %s raised", self.run_id)
        self._done.set()


class PipelineRun(RunEnd):
    """One in-process run of a pipeline: threads per component, bounded queues, acks back to sources.

    Build it with :meth:`conduix.Pipeline.start` (or ``Pipeline.create_run``), which also opens the
    checkpoint store and wires telemetry.
    """

    supervised = False

    def __init__(self, spec: PipelineSpec, *, state_dir: str | Path | None = None,
                 parameters: dict[str, Any] | None = None, hooks: pluggy.PluginManager | None = None,
                 services: dict[str, Any] | None = None, run_id: str | None = None,
                 checkpoint_id: str | None = None, slice_index: int = 0, slice_count: int = 1,
                 slice_params: dict[str, Any] | None = None,
                 checkpoints: Any = None,
                 on_checkpoint: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.services = services or {}
        self.checkpoint_id = checkpoint_id or spec.name
        self.slice_index, self.slice_count, self.slice_params = slice_index, slice_count, slice_params
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.parameters = parameters or {}
        self.hooks = hooks
        self.checkpoints = checkpoints
        self._on_checkpoint = on_checkpoint
        self.control = RunControl()
        self.nodes: dict[str, Node] = {}
        self.result: RunResult | None = None
        self._started = 0.0
        self._thread: threading.Thread | None = None
        self._checkpoint_lock = threading.Lock()
        self.checkpoint_writes = 0
        self.checkpoint_failures = 0
        self.checkpoint_failures_in_a_row = 0  #: since the last checkpoint written (the alerts' "consecutive")
        self.telemetry: Any = None
        self.metrics_url: str | None = None
        """Where ``/metrics`` (and ``/health``, ``/ready``, ``/status``, ``/tap``) is served, if it is."""
        self._build()

    # -- construction ---------------------------------------------------------------------
    def _build(self) -> None:
        spec = self.spec
        settings = spec.settings
        restored = self._load_checkpoint()
        self._processed_before = int(restored.get("processed_count") or 0)  # the count goes on across runs
        failed = self._batch_failed if self.hooks is not None else None
        for cspec in spec.topological():
            stats = ComponentStats(cspec.id, cspec.kind, cspec.type_name)
            context = Context(component_id=cspec.id, pipeline=spec.name, state_dir=self.state_dir,
                              batch_size=settings.batch_size, parameters=self.parameters,
                              delivery=spec.delivery, services=self.services, run_id=self.run_id,
                              slice_index=self.slice_index, slice_count=self.slice_count,
                              slice=self.slice_params, record_errors=stats.count_error)
            component = cspec.build(context)
            node: Node
            common: dict[str, Any] = {"pipeline": spec.name, "policy": cspec.policy, "on_batch_failed": failed}
            if cspec.kind == "source":
                position = (restored.get("sources", {}).get(cspec.id) or {}).get("position")
                if position is not None:
                    component.restore(position)
                node = SourceNode(component, stats, self.control, settings.queue_size, **common,
                                  batch_size=settings.batch_size, idle_sleep=settings.idle_sleep,
                                  checkpoint_interval=settings.checkpoint.interval,
                                  on_checkpoint=self._checkpoint)
                node.outputs = {None: [], **{name: [] for name in cspec.outputs}}
            elif cspec.kind == "stage":
                node = StageNode(component, stats, self.control, settings.queue_size, **common)
                node.outputs = {None: [], **{name: [] for name in cspec.outputs}}
            else:
                node = SinkNode(component, stats, self.control, settings.queue_size, **common,
                                buffer=cspec.buffer, buffer_dir=self._buffer_dir(cspec.buffer))
                node.outputs = {name: [] for name in cspec.outputs}
            self.nodes[cspec.id] = node
        for cspec in spec.components.values():
            consumer = self.nodes[cspec.id]
            # a stage with one input runs in its upstream's thread: no queue hop for linear chains; so does the
            # writing of a local sink (file, blackhole) or of one that says it writes inline (kafka), with one
            # input and the default buffer
            consumer.fused = isinstance(consumer, StageNode) and len(cspec.inputs) == 1
            if isinstance(consumer, SinkNode):
                sink = consumer.component
                consumer.inline = ((sink.local or sink.writes_inline) and len(cspec.inputs) == 1
                                   and cspec.buffer is None and not sink.tick_interval)
            for ref in cspec.inputs:
                self.nodes[ref.component].outputs[ref.output].append(Edge(consumer))
                consumer.expected_ends += 1

    def _buffer_dir(self, buffer: BufferSettings | None) -> Path | None:
        if buffer is None or buffer.type != "disk":
            return None
        return Path(buffer.path) if buffer.path else self.state_dir / "buffers" / self.spec.name

    def _load_checkpoint(self) -> dict[str, Any]:
        if self.checkpoints is None:
            return {}
        return self.checkpoints.load(self.checkpoint_id) or {}

    def _checkpoint(self, source_id: str, state: dict[str, Any]) -> None:
        if self._on_checkpoint is not None:
            self._on_checkpoint(source_id, state)
        if self.checkpoints is None:
            return
        try:
            self._save_checkpoint(source_id, state)
        except Exception as exc:  # the run goes on; the next checkpoint tries again
            self.checkpoint_failures += 1
            self.checkpoint_failures_in_a_row += 1
            logger.error("pipeline %r: checkpoint of source %r failed (the next one retries): %s",
                         self.spec.name, source_id, exc)
        else:
            self.checkpoint_writes += 1
            self.checkpoint_failures_in_a_row = 0

    def _save_checkpoint(self, source_id: str, state: dict[str, Any]) -> None:
        assert self.checkpoints is not None
        with self._checkpoint_lock:  # sources checkpoint from their own threads
            now = time.time()
            current = self.checkpoints.load(self.checkpoint_id) or {"pipeline": self.spec.name, "sources": {}}
            current.setdefault("sources", {})[source_id] = {"timestamp": now, "position": state}
            current["timestamp"] = now
            current["processed_count"] = self._processed_before + sum(
                n.acknowledged_records for n in self.nodes.values() if isinstance(n, SourceNode))
            self.checkpoints.save(self.checkpoint_id, current)

    def attach_telemetry(self, telemetry: Any) -> None:
        """Have ``telemetry`` time batches and trace them (metrics read the counters by themselves)."""
        self.telemetry = telemetry
        for cid, node in self.nodes.items():
            node.telemetry = telemetry
            node.labels = {"pipeline": self.spec.name, "component": cid, "kind": node.stats.kind,
                           "type": node.stats.type}
            node.durations = telemetry.durations(node.labels)

    def _batch_failed(self, component: str, error: BaseException, records: int) -> None:
        assert self.hooks is not None
        self.hooks.hook.conduix_batch_failed(pipeline=self.spec.name, component=component,
                                             error=error, records=records)

    # -- running ----------------------------------------------------------------------------
    def start(self) -> PipelineRun:
        """Start the run in background threads; returns at once."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        if self.hooks is not None:
            self.hooks.hook.conduix_pipeline_started(pipeline=self.spec.name, run_id=self.run_id)
        # consumers first, so nothing is put on a queue nobody reads
        for node in reversed(list(self.nodes.values())):
            if not node.fused:
                node.start()
        self._thread = threading.Thread(target=self._watch, name=f"conduix-run-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        threads = [node for node in self.nodes.values() if not node.fused]
        try:
            for node in threads:
                while node.is_alive():
                    node.join(0.2)
                    if self.control.aborted.is_set():
                        break
            if self.control.aborted.is_set():
                deadline = time.monotonic() + 5.0
                for node in threads:
                    node.join(max(0.0, deadline - time.monotonic()))
                    if node.is_alive():
                        logger.warning("%s did not stop within 5 s after the failure", node.name)
            for node in self.nodes.values():
                if isinstance(node, StageNode) and node.fused:
                    node.close_once()  # a chain that failed mid-way leaves its fused stages open
        finally:
            self._finish()

    def _finish(self) -> None:
        error = self.control.error
        status = "failed" if error is not None else "succeeded"
        self.result = RunResult(
            pipeline=self.spec.name, run_id=self.run_id, status=status, error=error,
            duration=time.monotonic() - self._started,
            stats={cid: n.stats for cid, n in self.nodes.items()},
            components={cid: n.component for cid, n in self.nodes.items()},
        )
        if self.hooks is not None:
            try:
                self.hooks.hook.conduix_pipeline_stopped(pipeline=self.spec.name, run_id=self.run_id,
                                                         status=status, stats=self.result.as_dict())
            except Exception:
                logger.exception("a pipeline_stopped hook raised")
        self._ended()

    def stop(self) -> None:
        """Graceful stop: sources stop reading, in-flight batches drain, sinks flush; after
        ``settings.shutdown_timeout`` seconds the run is aborted instead (unwritten records are replayed)."""
        if not self.control.stopping.is_set() and not self.done:
            timer = threading.Timer(self.spec.settings.shutdown_timeout, self._stop_timed_out)
            timer.daemon = True
            timer.start()
        self.control.stopping.set()
        self._tell_stop()

    def _tell_stop(self) -> None:
        """``stop()`` of every source (stop reading) and sink (give up connecting, if still at it)."""
        for node in self.nodes.values():
            if isinstance(node, (SourceNode, SinkNode)):
                try:
                    node.component.stop()
                except Exception as exc:
                    logger.warning("%s %r failed to stop: %s", node.stats.kind, node.stats.id, exc)

    def _stop_timed_out(self) -> None:
        if not self.done:
            limit = self.spec.settings.shutdown_timeout
            logger.warning("pipeline %r did not drain within %.0fs (settings.shutdown_timeout): aborting; what was "
                           "not written is replayed on the next run", self.spec.name, limit)
            self.abort(f"did not drain within shutdown_timeout ({limit:.0f}s)")

    def abort(self, reason: str = "aborted") -> None:
        """End the run now, failed with ``reason``: nothing more is written, what was not is replayed."""
        self.control.fail(PipelineError(f"pipeline {self.spec.name!r} {reason}"))
        self._tell_stop()

    @property
    def error(self) -> BaseException | None:
        return self.control.error

    @property
    def stopping(self) -> bool:
        """A stop (or abort) was asked for."""
        return self.control.stopping.is_set()

    def stats(self) -> dict[str, ComponentStats]:
        return {cid: n.stats for cid, n in self.nodes.items()}

    def not_ready(self) -> list[str]:
        """Why the run is not ready (empty when it is): sources not connected yet, stopping, ended."""
        if self.done:
            return [f"pipeline {self.spec.name!r} has ended"]
        if self.control.stopping.is_set():
            return [f"pipeline {self.spec.name!r} is stopping"]
        return [f"source {cid!r} of pipeline {self.spec.name!r} is not connected yet"
                for cid, node in self.nodes.items() if isinstance(node, SourceNode) and not node.opened.is_set()]

    def metrics_text(self) -> bytes:
        """The metrics of the telemetry attached to this run as Prometheus text (empty when none exports to
        Prometheus; a telemetry shared by several runs gives theirs too)."""
        return self.telemetry.prometheus_text() if self.telemetry is not None else b""

    def status(self) -> dict[str, Any]:
        return {"pipeline": self.spec.name, "run_id": self.run_id,
                "state": "done" if self.done else ("stopping" if self.control.stopping.is_set() else "running"),
                "error": None if self.error is None else redact(str(self.error)),
                "components": {cid: s.as_dict() for cid, s in self.stats().items()}}

    def raise_for_error(self) -> None:
        if self.error is not None:
            if isinstance(self.error, ConduixError):
                raise self.error
            raise PipelineError(str(self.error)) from self.error
