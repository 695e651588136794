"""The threads of a running pipeline: one per source and sink (and fan-in stage), joined by bounded
queues; single-input stages run in their upstream's thread."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conduix.components import Batch, Sink, Source, Stage
from conduix.config.model import BufferSettings, ComponentPolicy
from conduix.errors import ComponentError, ConduixError
from conduix.runtime.acks import AckToken
from conduix.runtime.diskbuffer import DiskBuffer
from conduix.runtime.policy import Aborted, Failure, Retrier, apply_policy, describe_position
from conduix.runtime.stats import ComponentStats

__all__ = ["END", "Aborted", "Edge", "Node", "RunControl", "SinkNode", "SourceNode", "StageNode"]

logger = logging.getLogger(__name__)

END = object()
"""Put on a queue once per edge when the upstream component has no more batches."""

_POLL = 0.1


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
        telemetry = self.telemetry
        elapsed = time.perf_counter() - started
        telemetry.batch_duration.record(elapsed, self.labels)
        tracer = telemetry.tracer
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

    def _trace_read(self, batch: Batch, started: float) -> None:
        """Start the batch's trace (continuing an incoming one from message headers) and time the read."""
        telemetry = self.telemetry
        elapsed = time.perf_counter() - started
        telemetry.batch_duration.record(elapsed, self.labels)
        tracer = telemetry.tracer
        if tracer is None:
            return
        from opentelemetry.trace import set_span_in_context

        from conduix.observability.tracing import batch_parent

        end = time.time_ns()
        span = tracer.start_span(f"{self.stats.id} read", context=batch_parent(batch), attributes={
            **self.labels, "conduix.records": len(batch.records)}, start_time=end - int(elapsed * 1e9))
        span.end(end_time=end)
        if span.get_span_context().trace_flags.sampled:  # unsampled batches cost later components no span
            batch.trace = set_span_in_context(span)

    def _deliver(self, batch: Batch) -> None:
        """Hand a batch on, holding its token so fan-out cannot settle it early."""
        token = AckToken(batch.position, self.completed)
        self.outstanding += 1
        batch.acks = (token,)
        token.add(1)
        if batch.rejects:
            self.handle_failures(batch, [
                Failure(r.record or {}, r.meta or {}, r.error, describe_position(batch, r.index, r.meta or {}))
                for r in batch.rejects])
        self.emit(batch)
        token.settle()

    def work(self) -> None:
        source = self.component
        control = self.control
        try:
            source.open()  # inside try: a source that fails half-way through open() is still closed
            self.opened.set()
            next_checkpoint = time.monotonic() + self.checkpoint_interval
            stats = self.stats
            while not control.stopping.is_set():
                if self.completed:
                    self._drain_acks()
                if time.monotonic() >= next_checkpoint:
                    self._checkpoint()
                    next_checkpoint = time.monotonic() + self.checkpoint_interval
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
            self._close()


class StageNode(Node):
    """Runs a stage in its own thread, or, when ``fused``, in the thread of its only upstream."""

    component: Stage[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ends = 0
        self.opened = False
        self.closed = False

    def _open(self) -> None:
        if not self.opened:
            self.opened = True
            self.component.open()

    def accept(self, batch: Batch) -> None:
        self._open()
        stats = self.stats
        stats.records_in += len(batch.records)
        stats.batches_in += 1
        # a stage's emits are held until it returns, so a retry or a failure cannot emit twice
        pending: list[tuple[Batch, str | None]] = []
        process = self.component.process

        def collect(out: Batch, output: str | None = None) -> None:
            pending.append((out, output))

        started = time.perf_counter()
        try:
            self.retrier.call(process, batch, collect)
        except Aborted:
            raise
        except Exception as exc:
            pending.clear()
            try:
                self._isolate(batch, exc, pending)
            except Aborted:
                raise
            except Exception as error:
                self.fail(error if isinstance(error, ComponentError) else _component_error(stats, batch, error),
                          len(batch.records))
                raise Aborted from None
        if self.telemetry is not None:
            self.observe(started, batch, "process")
        for out, output in pending:
            self.emit(out, output)
        for token in batch.acks:
            token.settle()

    def _isolate(self, batch: Batch, exc: Exception, pending: list[tuple[Batch, str | None]]) -> None:
        """The batch failed: under drop/dead_letter, find the records that fail and keep the others."""
        if self.policy.on_error == "stop" or len(batch.records) == 0:
            raise exc if isinstance(exc, ComponentError) else _component_error(self.stats, batch, exc)
        failures: list[Failure] = []
        process = self.component.process
        for index in range(len(batch.records)):
            single = batch.select([index])
            original = dict(batch.records[index])
            held: list[tuple[Batch, str | None]] = []
            try:
                process(single, lambda out, output=None, held=held: held.append((out, output)))
            except Exception as error:  # this record fails on its own
                failures.append(Failure(original, batch.meta_at(index), error,
                                        describe_position(batch, index)))
                continue
            pending.extend(held)
        self.handle_failures(batch, failures)

    def accept_end(self) -> None:
        self.ends += 1
        if self.ends < self.expected_ends:
            return
        self._open()
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


class _Until:
    """An event-like ``wait(timeout) -> bool`` that turns true when a condition does (polled)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, _POLL))
        return True


class SinkNode(Node):
    """Writes batches through the sink, behind its buffer (memory queue, or a disk buffer)."""

    component: Sink[Any]

    def __init__(self, *args: Any, buffer: BufferSettings | None = None, buffer_dir: Path | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = buffer or BufferSettings()
        self.buffer_dir = buffer_dir
        if self.buffer.type == "memory" and self.buffer.max_batches:
            self.inbox = queue.Queue(maxsize=self.buffer.max_batches)
        self._drops = 0
        self._disk_bytes = 0

    # -- receiving ---------------------------------------------------------------------------
    def put(self, item: Any) -> None:
        if item is END or self.buffer.when_full == "block" or self.buffer.type == "disk":
            super().put(item)
            return
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            self._drop(item)

    def _drop(self, batch: Batch) -> None:
        """``when_full: drop_newest``: the batch is given up on purpose (counted, logged, settled)."""
        self.stats.dropped += len(batch.records)
        self._drops += 1
        if self._drops == 1 or self._drops % 100 == 0:
            logger.warning("sink %r buffer is full: dropped %d batch(es) so far (when_full: drop_newest)",
                           self.stats.id, self._drops)
        for token in batch.acks:
            token.settle()

    def _write(self, batch: Batch, retrier: Retrier | None = None) -> None:
        stats = self.stats
        n = len(batch.records)
        if self.taps:  # a sink's tap shows what it is about to write
            for tap in list(self.taps):
                tap.offer(batch.records, None)
        started = time.perf_counter()
        try:
            rejected = (retrier or self.retrier).call(self.component.write, batch)
        except Aborted:
            raise
        except Exception as exc:  # the whole batch failed for good
            if self.policy.on_error == "stop":
                raise _component_error(stats, batch, exc) from exc
            rejected = None
            failures = [Failure(r, batch.meta_at(i), exc, describe_position(batch, i))
                        for i, r in enumerate(batch.records)]
        else:
            failures = [Failure(batch.records[r.index] if r.index is not None else (r.record or {}),
                                batch.meta_at(r.index) if r.index is not None else (r.meta or {}), r.error,
                                describe_position(batch, r.index, r.meta)) for r in rejected or ()]
        if failures:
            self.handle_failures(batch, failures)
        stats.records_out += n - len(failures)
        written = getattr(self.component, "bytes_written", None)
        if written is not None:
            stats.bytes_out = written
        if self.telemetry is not None:
            self.observe(started, batch, "write")

    def work(self) -> None:
        if self.buffer.type == "disk":
            self._work_disk()
            return
        sink = self.component
        try:
            sink.open()
            stats = self.stats
            for batch in self._incoming():
                stats.records_in += len(batch.records)
                stats.batches_in += 1
                self._write(batch)
                for token in batch.acks:
                    token.settle()
            sink.flush()
            self.end_outputs()
        finally:
            self._close()

    def _incoming(self) -> Iterator[Batch]:
        """The batches from every input, until each has sent END; ticks the sink when a tick is due."""
        ends = 0
        interval = self.component.tick_interval
        next_tick = time.monotonic() + interval if interval else None
        inbox, aborted = self.inbox, self.control.aborted
        while ends < self.expected_ends:
            if next_tick is not None and time.monotonic() >= next_tick:
                self.component.tick()
                next_tick = time.monotonic() + interval  # type: ignore[operator]
            try:
                item = inbox.get(timeout=min(_POLL, interval) if interval else _POLL)
            except queue.Empty:
                if aborted.is_set():
                    raise Aborted from None
                continue
            if item is END:
                ends += 1
            else:
                yield item

    def buffer_usage(self) -> tuple[int, float] | None:
        if self.buffer.type == "disk":
            return self.stats.buffered, 0.0 if not self._disk_bytes else self._disk_bytes / self.buffer.max_bytes
        return super().buffer_usage()

    def emit(self, batch: Batch, output: str | None = None) -> None:
        # a sink's only output is its dead letters; they are not records it wrote
        written, batches = self.stats.records_out, self.stats.batches_out
        super().emit(batch, output)
        self.stats.records_out, self.stats.batches_out = written, batches

    # -- disk buffer ---------------------------------------------------------------------------
    def _work_disk(self) -> None:
        """Receive into the disk buffer (acknowledging there) while a writer thread drains it in order."""
        assert self.buffer_dir is not None
        buf = DiskBuffer(self.buffer_dir / f"{self.stats.id}.sqlite", self.buffer.max_bytes)
        self.stats.buffered = buf.count
        if buf.count:
            logger.info("sink %r: %d batch(es) left in its disk buffer from an earlier run are written first",
                        self.stats.id, buf.count)
        input_done = threading.Event()
        errors: list[BaseException] = []
        writer = threading.Thread(target=self._drain_disk, args=(buf, input_done, errors),
                                  name=f"{self.name}-writer", daemon=True)
        writer.start()
        try:
            for batch in self._incoming():
                while not buf.wait_for_room(_POLL):
                    if self.buffer.when_full == "drop_newest":
                        break
                    if self.control.aborted.is_set() or errors:
                        raise Aborted
                if not buf.has_room():
                    self._drop(batch)
                    continue
                buf.append(batch)
                self.stats.records_in += len(batch.records)
                self.stats.batches_in += 1
                self.stats.buffered, self._disk_bytes = buf.count, buf.bytes
                for token in batch.acks:
                    token.settle()  # durable on disk: what the source may checkpoint past
        finally:
            input_done.set()
            writer.join()
        if errors:
            raise errors[0]
        self.end_outputs()

    def _drain_disk(self, buf: DiskBuffer, input_done: threading.Event, errors: list[BaseException]) -> None:
        control = self.control
        # stopping with the input ended: what is not written yet waits on disk for the next run
        give_up = _Until(lambda: control.aborted.is_set() or (control.stopping.is_set() and input_done.is_set()))
        retrier = Retrier(self.policy.retry, give_up, self.stats.kind, self.stats.id, self.stats)  # type: ignore[arg-type]
        sink = self.component
        try:
            sink.open()
            while not give_up.condition():
                entry = buf.oldest()
                if entry is None:
                    if input_done.is_set():
                        sink.flush()
                        break
                    buf.wait_for_data(_POLL)
                    continue
                entry_id, size, batch = entry
                self._write(batch, retrier)
                buf.delete(entry_id, size)
                self.stats.buffered, self._disk_bytes = buf.count, buf.bytes
        except Aborted:
            pass
        except BaseException as exc:
            errors.append(exc)
            self.control.fail(exc if isinstance(exc, ConduixError) else _component_error(self.stats, Batch([]), exc))
        finally:
            self._close()
            buf.close()


def _component_error(stats: ComponentStats, batch: Batch, exc: BaseException) -> ConduixError:
    if isinstance(exc, ComponentError) and exc.component:
        return exc
    where = getattr(exc, "position", None)
    if where is None:
        where = f"batch at position {batch.position!r}" if batch.position is not None else "a batch"
    error = ComponentError(f"{stats.kind} {stats.id!r} failed on {where}: {type(exc).__name__}: {exc}",
                           component=stats.id, position=where)
    error.__cause__ = exc
    return error
