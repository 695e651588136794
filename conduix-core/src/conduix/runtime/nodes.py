"""The threads of a running pipeline: one per component, joined by bounded queues."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from conduix.components import Batch, Sink, Source, Stage
from conduix.errors import ComponentError, ConduixError
from conduix.runtime.acks import AckToken
from conduix.runtime.stats import ComponentStats

__all__ = ["END", "Edge", "Node", "SinkNode", "SourceNode", "StageNode"]

logger = logging.getLogger(__name__)

END = object()
"""Put on a queue once per edge when the upstream component has no more batches."""

_POLL = 0.1


class Aborted(Exception):
    """The run is being torn down after a failure; leave quietly."""


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
        self.direct = node.fused


class Node(threading.Thread):
    """Base of the component threads."""

    def __init__(self, component: Any, stats: ComponentStats, control: RunControl, queue_size: int,
                 on_batch_failed: Callable[[str, BaseException, int], None] | None = None) -> None:
        super().__init__(name=f"conduix-{stats.kind}-{stats.id}", daemon=True)
        self.component = component
        self.stats = stats
        self.control = control
        self.inbox: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.expected_ends = 0
        self.outputs: dict[str | None, list[Edge]] = {}
        self.on_batch_failed = on_batch_failed
        self.finished = threading.Event()
        self.fused = False

    # -- moving batches ------------------------------------------------------------------
    def put(self, item: Any) -> None:
        """Block while the queue is full (backpressure) unless the run aborts."""
        inbox = self.inbox
        while True:
            try:
                inbox.put(item, timeout=_POLL)
                return
            except queue.Full:
                if self.control.aborted.is_set():
                    raise Aborted from None

    def get(self) -> Any:
        inbox = self.inbox
        while True:
            try:
                return inbox.get(timeout=_POLL)
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
            if output is not None and output not in self.outputs:
                raise ComponentError(f"{self.stats.kind} {self.stats.id!r} emitted to undeclared output "
                                     f"{output!r}", component=self.stats.id)
            return
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

    def fail(self, error: BaseException, records: int) -> None:
        self.stats.errors += 1
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


class SourceNode(Node):
    component: Source[Any]

    def __init__(self, *args: Any, batch_size: int, idle_sleep: float, checkpoint_interval: float,
                 on_checkpoint: Callable[[str, dict[str, Any]], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.checkpoint_interval = checkpoint_interval
        self.on_checkpoint = on_checkpoint
        self.completed: deque[Any] = deque()
        self.outstanding = 0
        self.opened = threading.Event()

    def _drain_acks(self) -> None:
        completed = self.completed
        source = self.component
        while completed:
            position = completed.popleft()
            self.outstanding -= 1
            self.stats.acknowledged += 1
            source.acknowledge(position)

    def _checkpoint(self) -> None:
        if self.on_checkpoint is None:
            return
        state = self.component.checkpoint()
        if state is not None:
            self.on_checkpoint(self.stats.id, state)

    def work(self) -> None:
        source = self.component
        control = self.control
        source.open()
        self.opened.set()
        try:
            edges = self.outputs.get(None, [])
            next_checkpoint = time.monotonic() + self.checkpoint_interval
            while not control.stopping.is_set():
                if self.completed:
                    self._drain_acks()
                if time.monotonic() >= next_checkpoint:
                    self._checkpoint()
                    next_checkpoint = time.monotonic() + self.checkpoint_interval
                batch = source.read(self.batch_size)
                if batch is None:
                    break
                n = len(batch.records)
                if not n:
                    if batch.position is not None:  # read, but nothing in it to deliver
                        source.acknowledge(batch.position)
                        continue
                    if self.idle_sleep:
                        control.stopping.wait(self.idle_sleep)
                    continue
                self.stats.records_in += n
                self.stats.batches_in += 1
                token = AckToken(batch.position, self.completed)
                self.outstanding += 1
                batch.acks = (token,)
                if edges:
                    token.add(1)  # held while handing over, so fan-out cannot settle it early
                    self.emit(batch)
                    token.settle()
                else:
                    token.completed.append(token.position)
            self.end_outputs()
            # wait until every batch read is settled downstream, then record where we are
            while self.outstanding > len(self.completed) and not control.aborted.is_set():
                time.sleep(0.005)
            self._drain_acks()
            if not control.aborted.is_set():
                self._checkpoint()
        finally:
            self._close()


class StageNode(Node):
    """Runs a stage in its own thread, or, when ``fused``, in the thread of its only upstream."""

    component: Stage[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ends = 0
        self.opened = False
        self.closed = False

    def accept(self, batch: Batch) -> None:
        if not self.opened:
            self.opened = True
            self.component.open()
        stats = self.stats
        stats.records_in += len(batch.records)
        stats.batches_in += 1
        try:
            self.component.process(batch, self.emit)
        except Aborted:
            raise
        except Exception as exc:
            self.fail(_component_error(stats, batch, exc), len(batch.records))
            raise Aborted from None
        for token in batch.acks:
            token.settle()

    def accept_end(self) -> None:
        self.ends += 1
        if self.ends < self.expected_ends:
            return
        if not self.opened:
            self.opened = True
            self.component.open()
        self.component.finish(self.emit)
        self.end_outputs()
        self.close_once()
        self.finished.set()

    def close_once(self) -> None:
        if self.opened and not self.closed:
            self.closed = True
            self._close()

    def work(self) -> None:
        try:
            while self.ends < self.expected_ends:
                item = self.get()
                if item is END:
                    self.accept_end()
                else:
                    self.accept(item)
        finally:
            self.close_once()


class SinkNode(Node):
    component: Sink[Any]

    def work(self) -> None:
        sink = self.component
        sink.open()
        try:
            ends = 0
            stats = self.stats
            while ends < self.expected_ends:
                item = self.get()
                if item is END:
                    ends += 1
                    continue
                batch: Batch = item
                stats.records_in += len(batch.records)
                stats.batches_in += 1
                try:
                    sink.write(batch)
                except Exception as exc:
                    self.fail(_component_error(stats, batch, exc), len(batch.records))
                    return
                stats.records_out += len(batch.records)
                for token in batch.acks:
                    token.settle()
            sink.flush()
        finally:
            self._close()


def _component_error(stats: ComponentStats, batch: Batch, exc: Exception) -> ConduixError:
    if isinstance(exc, ComponentError) and exc.component:
        return exc
    where = getattr(exc, "position", None)
    if where is None:
        where = f"batch at position {batch.position!r}" if batch.position is not None else "a batch"
    error = ComponentError(f"{stats.kind} {stats.id!r} failed on {where}: {type(exc).__name__}: {exc}",
                           component=stats.id, position=where)
    error.__cause__ = exc
    return error
