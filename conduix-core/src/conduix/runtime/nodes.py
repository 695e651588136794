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
    """One consumer's queue as seen from its producer."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node


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
        first = True
        for edge in edges:
            if first:
                edge.node.put(batch)
                first = False
            else:  # fan-out: each branch may change its records, so each gets its own copy
                edge.node.put(batch.copy())

    def end_outputs(self) -> None:
        for edges in self.outputs.values():
            for edge in edges:
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
    component: Stage[Any]

    def work(self) -> None:
        stage = self.component
        stage.open()
        try:
            ends = 0
            emit = self.emit
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
                    stage.process(batch, emit)
                except Aborted:
                    raise
                except Exception as exc:
                    self.fail(_component_error(stats, batch, exc), len(batch.records))
                    return
                for token in batch.acks:
                    token.settle()
            stage.finish(emit)
            self.end_outputs()
        finally:
            self._close()


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
