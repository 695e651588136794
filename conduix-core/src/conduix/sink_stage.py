"""A stage that writes through a sink and passes the written records on: a sink in the middle of a chain.

The original README names Elasticsearch and Kafka as *stages* (``KafkaStage``: a cross-pipeline boundary inside
a chain). A connector gets such a stage from its sink with a few lines::

    class KafkaStage(SinkStage):
        sink_class = KafkaSink

The stage has the sink's options, and ``process`` calls the sink's ``write``: the batch is passed on once the
write returned, without the records the sink rejected for good (they go where the stage's ``on_error`` says).
Passed-on records keep their source batch's acknowledgement handles, so a source position is acknowledged only
when this write and every write after it are done; a sink that holds batches (``batch.hold()``) holds them here
too. Transient failures (``RetryableError``) are retried with the stage's ``retry:`` settings, like a sink's.
End of input flushes the sink. A sink's periodic :meth:`~conduix.components.Sink.tick` runs between batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from conduix.access import Access
from conduix.components import Batch, ComponentConfig, Context, Emit, Rejected, Sink, Stage
from conduix.errors import ConfigError

__all__ = ["SinkStage"]


class SinkStage(Stage[Any]):
    """Base of the stages that write each batch through :attr:`sink_class` and emit what was written."""

    sink_class: ClassVar[type[Sink[Any]]]
    exactly_once: ClassVar[bool] = True
    """False when the sink's ``delivery: exactly_once`` mode would commit input positions past records that the
    components after this stage have not written yet (Kafka transactions commit the consumed offsets)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        sink = cls.__dict__.get("sink_class")
        if sink is not None:
            cls.Config = sink.Config
            if cls.__doc__ is None:
                cls.__doc__ = f"Writes each batch like the {sink.__name__} and passes the written records on."

    @classmethod
    def access(cls, config: Any) -> Access:
        return cls.sink_class.access(config)

    @classmethod
    def outputs_for(cls, config: Any) -> list[str] | None:
        return []

    def __init__(self, config: ComponentConfig, context: Context) -> None:
        super().__init__(config, context)
        if context.delivery == "exactly_once" and not self.exactly_once:
            raise ConfigError(f"stage {context.component_id!r} cannot take part in 'delivery: exactly_once'",
                              hint="write with a sink of this type instead (sinks: section), or use "
                                   "at_least_once delivery")
        self.sink = self.sink_class(config, context)
        interval = self.sink_class.tick_interval
        self._interval = interval
        self._next_tick = None if interval is None else time.monotonic() + interval

    def open(self) -> None:
        self.sink.open()

    def close(self) -> None:
        self.sink.close()

    def process(self, batch: Batch, emit: Emit) -> Sequence[Rejected] | None:
        if self._next_tick is not None and time.monotonic() >= self._next_tick:
            self.sink.tick()
            self._next_tick = time.monotonic() + self._interval  # type: ignore[operator]
        rejected = list(self.sink.write(batch) or ())
        failed = {r.index for r in rejected if r.index is not None}
        emit(batch.select([i for i in range(len(batch.records)) if i not in failed]) if failed else batch)
        return rejected

    def finish(self, emit: Emit) -> None:
        self.sink.flush()
