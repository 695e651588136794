"""The thread of a sink: writes batches behind its buffer (a bounded queue in memory, or a disk buffer)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conduix.components import Batch, Sink, release
from conduix.config.model import BufferSettings
from conduix.errors import ConduixError
from conduix.runtime.diskbuffer import DiskBuffer
from conduix.runtime.nodes.base import END, POLL, Aborted, Node, component_error
from conduix.runtime.policy import Failure, Retrier

__all__ = ["SinkNode"]

logger = logging.getLogger(__name__)


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
            time.sleep(min(left, POLL))
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
        self.inline = False
        """Batches are written from the upstream's thread (:meth:`accept`); set by the runner for a local sink
        with one input and the default buffer. The sink's own thread then opens, flushes and closes it."""
        self._ready = threading.Event()  # set once open() returned (or gave up), for inline writes
        self._gave_up: str | None = None

    # -- receiving ---------------------------------------------------------------------------
    def accept(self, batch: Batch) -> None:
        """Write ``batch`` now, in the calling (upstream's) thread: an inline sink."""
        while not self._ready.wait(POLL):
            if self.control.aborted.is_set():
                raise Aborted
        if self.control.aborted.is_set():
            raise Aborted
        self.stats.records_in += len(batch.records)
        if self._gave_up is not None:
            release(batch.acks, self._gave_up)
            return
        self.stats.batches_in += 1
        try:
            self._write(batch)
        except Aborted:
            release(batch.acks, "the run was aborted before it was written")
            raise
        except BaseException as exc:  # failed for good: the run fails, naming this sink
            error = exc if isinstance(exc, ConduixError) else component_error(self.stats, batch, exc)
            release(batch.acks, error)
            self.fail(error, len(batch.records))
            raise Aborted from None
        release(batch.acks)

    def accept_end(self) -> None:
        self.inbox.put(END)  # the sink's own thread flushes and closes it

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
        release(batch.acks)

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
                raise component_error(stats, batch, exc) from exc
            failures = [Failure.of(batch, exc, i) for i in range(len(batch.records))]
        else:
            failures = [Failure.rejected(batch, r) for r in rejected or ()]
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
            if not self._open():
                return
            self._ready.set()
            stats = self.stats
            for batch in self._incoming():
                stats.records_in += len(batch.records)
                stats.batches_in += 1
                try:
                    self._write(batch)
                except BaseException as exc:  # failed for good, or the run is aborting: not written
                    release(batch.acks, "the run was aborted before it was written" if isinstance(exc, Aborted)
                            else exc)
                    raise
                release(batch.acks)
            sink.flush()
            self.end_outputs()
        finally:
            self._close()

    def _open(self) -> bool:
        """Open the sink; False when it gave up because the run is stopping (it was told: ``Sink.stop``). The
        batches that come meanwhile go back to their sources unwritten, and the run ends as stopped."""
        try:
            self.component.open()
        except Exception as exc:
            if not self.control.stopping.is_set() or self.control.aborted.is_set():
                raise
            logger.info("sink %r stopped before it could open (%s): what it was given goes back to the sources",
                        self.stats.id, exc)
            error = f"sink {self.stats.id!r} stopped before it could open"
            self._gave_up = error
            self._ready.set()
            for batch in self._incoming():
                self.stats.records_in += len(batch.records)
                release(batch.acks, error)
            self.end_outputs()
            return False
        return True

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
                item = inbox.get(timeout=min(POLL, interval) if interval else POLL)
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
                while not buf.wait_for_room(POLL):
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
                release(batch.acks)  # durable on disk: what the source may checkpoint past
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
            try:
                sink.open()
            except Exception as exc:
                if not control.stopping.is_set() or control.aborted.is_set():
                    raise
                logger.info("sink %r stopped before it could open (%s): its disk buffer keeps the batches for "
                            "the next run", self.stats.id, exc)
                return
            while not give_up.condition():
                entry = buf.oldest()
                if entry is None:
                    if input_done.is_set():
                        sink.flush()
                        break
                    buf.wait_for_data(POLL)
                    continue
                entry_id, size, batch = entry
                self._write(batch, retrier)
                buf.delete(entry_id, size)
                self.stats.buffered, self._disk_bytes = buf.count, buf.bytes
        except Aborted:
            pass
        except BaseException as exc:
            errors.append(exc)
            self.control.fail(exc if isinstance(exc, ConduixError) else component_error(self.stats, Batch([]), exc))
        finally:
            self._close()
            buf.close()
