"""The thread of a source: reads batches, hands them on, takes acknowledgements back, checkpoints."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from conduix.components import Batch, Source, release
from conduix.runtime.acks import AckToken, Nack
from conduix.runtime.memory import tune_for_throughput
from conduix.runtime.nodes.base import Aborted, Node, while_blocked
from conduix.runtime.policy import Failure

__all__ = ["SourceNode"]

logger = logging.getLogger(__name__)

_MOVING = 4
"""Batches a source reads before the process tunes itself for throughput (:mod:`conduix.runtime.memory`)."""


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
        self.acknowledged_records = 0
        """Records of the acknowledged batches (rejects included): the checkpoint's ``processed_count``."""
        self.next_checkpoint = 0.0
        self.opened = threading.Event()

    def _drain_acks(self) -> None:
        completed = self.completed
        source = self.component
        while completed:
            item = completed.popleft()
            self.outstanding -= 1
            if type(item) is Nack:
                source.nack(item.position, item.error)
            else:
                self.stats.acknowledged += 1
                self.acknowledged_records += item.records
                source.acknowledge(item.position)

    def _checkpoint(self) -> None:
        self.next_checkpoint = time.monotonic() + self.checkpoint_interval
        if self.on_checkpoint is None:
            return
        state = self.component.checkpoint()
        if state is not None:
            self.on_checkpoint(self.stats.id, state)

    def _while_blocked(self) -> None:
        """Backpressure holds this thread in a full queue: take acknowledgements and checkpoint meanwhile, so
        a slow sink does not also hold back the checkpoint of what it already wrote."""
        if self.completed:
            self._drain_acks()
        if time.monotonic() >= self.next_checkpoint:
            self._checkpoint()

    def _trace_read(self, batch: Batch, started: float) -> None:
        """Start the batch's trace (continuing an incoming one from message headers) and time the read."""
        telemetry = self.telemetry
        elapsed = time.perf_counter() - started
        self.durations.record(elapsed)
        tracer = telemetry.tracer
        if tracer is None:
            return
        from conduix.observability.tracing import batch_parent

        parent = batch_parent(batch)
        if parent is None and not telemetry.sampled_root():
            return  # not traced: no span here, nor in later components
        from opentelemetry.trace import set_span_in_context

        end = time.time_ns()
        span = tracer.start_span(f"{self.stats.id} read", context=parent, attributes={
            **self.labels, "conduix.records": len(batch.records)}, start_time=end - int(elapsed * 1e9))
        span.end(end_time=end)
        if span.get_span_context().trace_flags.sampled:  # unsampled batches cost later components no span
            batch.trace = set_span_in_context(span)

    def _deliver(self, batch: Batch) -> None:
        """Hand a batch on, holding its token so fan-out cannot settle it early."""
        token = AckToken(batch.position, self.completed, len(batch.records) + len(batch.rejects or ()))
        self.outstanding += 1
        batch.acks = (token,)
        token.add(1)
        try:
            if batch.rejects:
                self.handle_failures(batch, [Failure.rejected(batch, r) for r in batch.rejects])
            self.emit(batch)
        except BaseException as exc:  # the run is failing (here, or in a stage running in this thread)
            release(batch.acks, "the run was aborted before it was written" if isinstance(exc, Aborted) else exc)
            raise
        release(batch.acks)

    def work(self) -> None:
        source = self.component
        control = self.control
        try:
            source.open()  # inside try: a source that fails half-way through open() is still closed
            self.opened.set()
            self.next_checkpoint = time.monotonic() + self.checkpoint_interval
            while_blocked.hook = self._while_blocked
            stats = self.stats
            while not control.stopping.is_set():
                if self.completed:
                    self._drain_acks()
                if time.monotonic() >= self.next_checkpoint:
                    self._checkpoint()
                started = time.perf_counter()
                batch = self.retrier.call(source.read, self.batch_size)
                if batch is None:
                    break
                n = len(batch.records)
                if not n and not batch.rejects:
                    if batch.position is not None:  # read, but nothing in it to deliver
                        source.acknowledge(batch.position)
                    elif self.idle_sleep:
                        control.stopping.wait(self.idle_sleep)
                    continue
                stats.records_in += n + len(batch.rejects or ())
                stats.batches_in += 1
                if stats.batches_in == _MOVING:  # the run moves data: keep freed memory, fewer gc passes
                    tune_for_throughput()
                if batch.nbytes:
                    stats.bytes_in += batch.nbytes
                if self.telemetry is not None:
                    self._trace_read(batch, started)
                self._deliver(batch)
            self.end_outputs()
            # wait until every batch read is settled downstream, then record where we are
            while self.outstanding > len(self.completed) and not control.aborted.is_set():
                time.sleep(0.005)
            self._drain_acks()
            if not control.aborted.is_set():
                self._checkpoint()
        finally:
            while_blocked.hook = None
            if self.completed:  # a failing run still tells the source what was written, and what will not be
                try:
                    self._drain_acks()
                except Exception as exc:
                    logger.warning("source %r failed to take acknowledgements while stopping: %s", self.stats.id,
                                   exc)
            self._close()
