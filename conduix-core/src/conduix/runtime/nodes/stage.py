"""The thread of a stage with several inputs, or a stage fused into the thread of its only upstream."""

from __future__ import annotations

import time
from typing import Any, NoReturn

from conduix.components import Batch, Stage, release
from conduix.errors import ComponentError
from conduix.runtime.nodes.base import END, Aborted, Node, component_error
from conduix.runtime.policy import Failure

__all__ = ["StageNode"]


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
            rejected = self.retrier.call(process, batch, collect)
        except Aborted:
            raise
        except Exception as exc:
            pending.clear()
            try:
                self._isolate(batch, exc, pending)
            except Aborted:
                raise
            except Exception as error:
                self._stop_on(batch, error)
        else:
            if rejected:  # records the stage could not handle for good go where on_error says
                try:
                    self.handle_failures(batch, [Failure.rejected(batch, r) for r in rejected])
                except Exception as error:  # on_error: stop
                    self._stop_on(batch, error)
        if self.telemetry is not None:
            self.observe(started, batch, "process")
        for out, output in pending:
            self.emit(out, output)
        release(batch.acks)

    def _stop_on(self, batch: Batch, error: Exception) -> NoReturn:
        """The batch failed for good under ``on_error: stop``: fail the run."""
        failure = error if isinstance(error, ComponentError) else component_error(self.stats, batch, error)
        self.fail(failure, len(batch.records))
        release(batch.acks, failure)
        raise Aborted from None

    def _isolate(self, batch: Batch, exc: Exception, pending: list[tuple[Batch, str | None]]) -> None:
        """The batch failed: under drop/dead_letter, find the records that fail and keep the others."""
        if self.policy.on_error == "stop" or len(batch.records) == 0:
            raise exc if isinstance(exc, ComponentError) else component_error(self.stats, batch, exc)
        failures: list[Failure] = []
        process = self.component.process
        for index in range(len(batch.records)):
            single = batch.select([index])
            original = dict(batch.records[index])
            held: list[tuple[Batch, str | None]] = []
            try:
                rejected = process(single, lambda out, output=None, held=held: held.append((out, output)))
            except Exception as error:  # this record fails on its own
                failures.append(Failure.of(batch, error, index, record=original))
                continue
            failures.extend(Failure.of(batch, r.error, index, record=original) for r in rejected or ())
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
