"""The threads of a running pipeline: what every node has (queues, emitting with fan-out, failing the run).

One module per node kind: :mod:`.source`, :mod:`.stage`, :mod:`.sink`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from conduix.components import Batch
from conduix.config.model import ComponentPolicy
from conduix.errors import ComponentError, ConduixError
from conduix.runtime.policy import Aborted, Failure, Retrier, apply_policy
from conduix.runtime.stats import ComponentStats

__all__ = ["END", "POLL", "Aborted", "Edge", "Node", "RunControl", "component_error", "while_blocked"]

logger = logging.getLogger(__name__)

END = object()
"""Put on a queue once per edge when the upstream component has no more batches."""

POLL = 0.1

while_blocked = threading.local()
"""``while_blocked.hook``: what the current thread does while a full queue holds it (a source thread takes
acknowledgements and checkpoints); None or unset: nothing."""


class RunControl:
    """Shared by every node of one run: stop (graceful) and abort (failure) flags."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.aborted = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        self.aborted.set()
        self.stopping.set()


class Edge:
    """One consumer as seen from its producer: its queue, or a direct call when the consumer is
    fused into the producer's thread (operator chaining)."""

    __slots__ = ("direct", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.direct = node.fused or getattr(node, "inline", False)


class Node(threading.Thread):
    """Base of the component threads."""

    def __init__(self, component: Any, stats: ComponentStats, control: RunControl, queue_size: int, *,
                 pipeline: str = "pipeline", policy: ComponentPolicy | None = None,
                 on_batch_failed: Callable[[str, BaseException, int], None] | None = None) -> None:
        super().__init__(name=f"conduix-{stats.kind}-{stats.id}", daemon=True)
        self.component = component
        self.stats = stats
        self.control = control
        self.pipeline = pipeline
        self.policy = policy or ComponentPolicy()
        self.retrier = Retrier(self.policy.retry, control.aborted, stats.kind, stats.id, stats)
        self.inbox: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.expected_ends = 0
        self.outputs: dict[str | None, list[Edge]] = {}
        self.on_batch_failed = on_batch_failed
        self.finished = threading.Event()
        self.fused = False
        self.telemetry: Any = None  # set by PipelineRun.attach_telemetry
        self.labels: dict[str, str] = {}
        self.durations: Any = None  # the batch-duration histogram of this component, with telemetry
        self.taps: list[Any] = []  # conduix tap: samples of what this component emits

    def buffer_usage(self) -> tuple[int, float] | None:
        """(batches waiting, fill ratio) of this component's input queue; None when it has none."""
        if self.fused or self.stats.kind == "source":
            return None
        size = self.inbox.qsize()
        return size, size / self.inbox.maxsize if self.inbox.maxsize else 0.0

    def lag(self) -> dict[Any, int] | None:
        """A source's consumer lag per partition (``Source.lag``); None when it cannot tell. Never raises:
        it is read by metrics and reports from other threads, which must not break the run."""
        lag = getattr(self.component, "lag", None)
        if self.stats.kind != "source" or not callable(lag):
            return None
        try:
            result: dict[Any, int] | None = lag()
            return result
        except Exception as exc:
            logger.debug("lag of %s failed: %s", self.stats.id, exc)
            return None

    def observe(self, started: float, batch: Batch, name: str) -> None:
        """Record the batch-duration histogram and, when traced, the component's span for this batch."""
        elapsed = time.perf_counter() - started
        self.durations.record(elapsed)
        tracer = self.telemetry.tracer
        if tracer is not None and batch.trace is not None:
            end = time.time_ns()
            span = tracer.start_span(f"{self.stats.id} {name}", context=batch.trace, attributes={
                **self.labels, "conduix.records": len(batch.records)}, start_time=end - int(elapsed * 1e9))
            span.end(end_time=end)

    # -- moving batches ------------------------------------------------------------------
    def put(self, item: Any) -> None:
        """Block while the queue is full (backpressure) unless the run aborts."""
        inbox = self.inbox
        while True:
            try:
                inbox.put(item, timeout=POLL)
                return
            except queue.Full:
                if self.control.aborted.is_set():
                    raise Aborted from None
                hook = getattr(while_blocked, "hook", None)
                if hook is not None:
                    hook()

    def get(self) -> Any:
        inbox = self.inbox
        while True:
            try:
                return inbox.get(timeout=POLL)
            except queue.Empty:
                if self.control.aborted.is_set():
                    raise Aborted from None

    def emit(self, batch: Batch, output: str | None = None) -> None:
        """Hand ``batch`` to every consumer of ``output``, counting the deliveries first."""
        n = len(batch.records)
        if not n:
            return
        edges = self.outputs.get(output)
        if edges is None:
            raise ComponentError(f"{self.stats.kind} {self.stats.id!r} emitted to undeclared output "
                                 f"{output!r}", component=self.stats.id)
        if self.taps:
            for tap in list(self.taps):
                tap.offer(batch.records, output)
        if not edges:
            return  # nobody consumes this output: the records are dropped, and settle upstream
        for token in batch.acks:
            token.add(len(edges))
        self.stats.records_out += n
        self.stats.batches_out += 1
        # fan-out: each branch may change its records, so each but the first gets its own copy,
        # made before any branch (possibly running right here) sees the batch
        items = [batch] + [batch.copy() for _ in edges[1:]]
        for edge, item in zip(edges, items):
            if edge.direct:
                edge.node.accept(item)  # type: ignore[attr-defined]
            else:
                edge.node.put(item)

    def end_outputs(self) -> None:
        for edges in self.outputs.values():
            for edge in edges:
                if edge.direct:
                    edge.node.accept_end()  # type: ignore[attr-defined]
                else:
                    edge.node.put(END)

    def handle_failures(self, batch: Batch, failures: list[Failure]) -> None:
        apply_policy(self.policy, failures, kind=self.stats.kind, component=self.stats.id,
                     pipeline=self.pipeline, batch=batch, emit=self.emit, stats=self.stats)

    def fail(self, error: BaseException, records: int) -> None:
        self.stats.count_error(error)
        if self.on_batch_failed is not None:
            try:
                self.on_batch_failed(self.stats.id, error, records)
            except Exception:
                logger.exception("a batch_failed hook raised")
        self.control.fail(error)

    def run(self) -> None:
        try:
            self.work()
        except Aborted:
            pass
        except BaseException as exc:  # every failure ends the run with the component named
            if not isinstance(exc, ConduixError):
                error: BaseException = ComponentError(
                    f"{self.stats.kind} {self.stats.id!r} failed: {type(exc).__name__}: {exc}",
                    component=self.stats.id)
                error.__cause__ = exc
            else:
                error = exc
            self.fail(error, 0)
        finally:
            self.finished.set()

    def work(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        try:
            self.component.close()
        except Exception as exc:
            logger.warning("%s %r failed to close: %s", self.stats.kind, self.stats.id, exc)


def component_error(stats: ComponentStats, batch: Batch, exc: BaseException) -> ConduixError:
    if isinstance(exc, ComponentError) and exc.component:
        return exc
    where = getattr(exc, "position", None)
    if where is None:
        where = f"batch at position {batch.position!r}" if batch.position is not None else "a batch"
    error = ComponentError(f"{stats.kind} {stats.id!r} failed on {where}: {type(exc).__name__}: {exc}",
                           component=stats.id, position=where)
    error.__cause__ = exc
    return error
