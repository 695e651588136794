"""The three component kinds a connector implements: Source, Stage and Sink.

Records are JSON-like ``dict`` objects. They move in :class:`Batch` objects that
also carry per-record metadata (kept apart from the data, like Vector's event
metadata) and the acknowledgement handles of the source batches they came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Batch",
    "ComponentConfig",
    "Context",
    "Emit",
    "Rejected",
    "Sink",
    "Source",
    "Stage",
    "release",
]


class ComponentConfig(BaseModel):
    """Base of every component's config model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


ConfigT = TypeVar("ConfigT", bound=ComponentConfig)


@dataclass
class Context:
    """What the runtime tells a component about where it runs."""

    component_id: str
    pipeline: str = "pipeline"
    state_dir: Path = field(default_factory=lambda: Path(".conduix"))
    batch_size: int = 1000
    parameters: dict[str, Any] = field(default_factory=dict)
    delivery: str = "at_least_once"
    """``at_least_once`` or ``exactly_once`` (the pipeline's ``delivery:`` key)."""
    slice_index: int = 0
    """Which slice of the pipeline this is (``settings.workers`` slices run as separate workers)."""
    slice_count: int = 1
    slice: dict[str, Any] | None = None
    """What :meth:`Source.plan_slices` gave this worker (e.g. one Kafka partition), or None."""
    services: dict[str, Any] = field(default_factory=dict)
    """What the process running the pipeline offers components, e.g. ``request_child`` in a project run."""
    run_id: str | None = None

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"conduix.component.{self.component_id}")


@dataclass
class Rejected:
    """A record a component could not handle; it goes where the component's ``on_error`` says.

    A sink returns these from :meth:`Sink.write` with ``index`` into the batch; a
    source puts them in :attr:`Batch.rejects` with the raw ``record`` (for example
    ``{"message": "<the invalid JSON line>"}``) and its ``meta``.
    """

    error: BaseException | str
    index: int | None = None
    record: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


class Batch:
    """Records moving together through the pipeline.

    ``records`` is a list of dicts. ``meta`` is ``None`` or a list of the same
    length with one metadata dict per record (source id, position, ingest time,
    connector fields such as topic/partition/offset). ``acks`` are the
    acknowledgement handles of the source batches these records came from; a
    stage that derives a new batch keeps them with :meth:`derive`.
    """

    __slots__ = ("acks", "meta", "nbytes", "position", "records", "rejects", "trace")

    def __init__(self, records: list[dict[str, Any]], meta: list[dict[str, Any]] | None = None,
                 *, position: Any = None, acks: Sequence[Any] = (),
                 rejects: list[Rejected] | None = None, nbytes: int | None = None, trace: Any = None) -> None:
        self.records = records
        self.meta = meta
        self.position = position
        self.acks = tuple(acks)
        self.rejects = rejects
        self.nbytes = nbytes
        """Bytes read for this batch, when the source knows (for metrics)."""
        self.trace = trace
        """The trace context of the batch's span (set by the runtime when tracing)."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"Batch({len(self.records)} records, position={self.position!r})"

    def meta_at(self, index: int) -> dict[str, Any]:
        """The metadata of record ``index`` (an empty dict when there is none)."""
        if self.meta is None:
            return {}
        return self.meta[index]

    def derive(self, records: list[dict[str, Any]],
               meta: list[dict[str, Any]] | None = None) -> Batch:
        """A new batch from these records that keeps this batch's acknowledgement handles."""
        return Batch(records, meta, position=self.position, acks=self.acks, trace=self.trace)

    def select(self, indices: Sequence[int]) -> Batch:
        """A derived batch holding only the records at ``indices`` (metadata kept aligned)."""
        records = self.records
        meta = self.meta
        return self.derive([records[i] for i in indices],
                           None if meta is None else [meta[i] for i in indices])

    def copy(self) -> Batch:
        """A deep copy of the records and metadata, with the same acknowledgement handles."""
        return Batch([_copy(r) for r in self.records],
                     None if self.meta is None else [dict(m) for m in self.meta],
                     position=self.position, acks=self.acks, trace=self.trace)

    def hold(self) -> tuple[Any, ...]:
        """Keep this batch's source positions unacknowledged after :meth:`Stage.process` returns.

        For stages that keep records across batches (windows): hold each input batch, emit the
        result later as ``Batch(records, acks=held)`` and then :func:`release` what was held. The
        source's checkpoint then never passes a record that is still only in the stage's memory, so
        a crash replays it instead of losing it.
        """
        for token in self.acks:
            token.add(1)
        return self.acks

    def pairs(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Iterate ``(record, metadata)`` pairs."""
        if self.meta is None:
            empty: dict[str, Any] = {}
            for record in self.records:
                yield record, empty
        else:
            yield from zip(self.records, self.meta)


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def release(held: Sequence[Any]) -> None:
    """Give back what :meth:`Batch.hold` kept (after emitting a batch that carries it, or to drop it)."""
    for token in held:
        token.settle()


Emit = Callable[..., None]
"""``emit(batch, output=None)``: hand a batch to the default or a named output."""


class _Component(Generic[ConfigT]):
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    kind: ClassVar[str] = "component"

    def __init__(self, config: ConfigT, context: Context) -> None:
        self.config = config
        self.context = context

    @property
    def id(self) -> str:
        return self.context.component_id

    def open(self) -> None:
        """Connect, open files. Called once, in the thread that runs the component."""

    def close(self) -> None:
        """Release everything :meth:`open` took."""


class Source(_Component[ConfigT]):
    """Reads records in batches.

    The runtime calls :meth:`read` repeatedly from one thread. It returns a
    batch (possibly empty when nothing is available right now) or ``None`` when
    the source is exhausted. A batch's ``position`` is handed back to
    :meth:`acknowledge` once every sink it reached has written it; acks arrive
    in the source's thread, in any order for different batches.
    """

    kind = "source"

    @classmethod
    def plans_slices(cls, config: Any) -> bool:
        """True when :meth:`plan_slices` will plan workers (cheap: the pipeline then runs supervised)."""
        return False

    @classmethod
    def plan_slices(cls, config: Any) -> list[dict[str, Any]] | None:
        """Under supervision: the slices of this source's input, one worker each (for example one per
        Kafka partition). Called in the supervising process before the workers start; each worker's
        source gets its slice as ``context.slice``. None: ``settings.workers`` slices."""
        return None

    def read(self, max_records: int) -> Batch | None:
        raise NotImplementedError

    def acknowledge(self, position: Any) -> None:
        """Every record of the batch at ``position`` was written by every sink."""

    def checkpoint(self) -> dict[str, Any] | None:
        """JSON-able state holding only acknowledged positions, or None."""
        return None

    def lag(self) -> dict[str, int] | None:
        """Messages not yet read, per partition (for the consumer-lag metric); called from another
        thread, so return a copy of numbers the source keeps up to date itself."""
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from a state :meth:`checkpoint` returned; called before :meth:`open`."""

    def stop(self) -> None:
        """Asked to stop reading (shutdown). May be called from another thread."""


class Stage(_Component[ConfigT]):
    """Transforms batches; emits to its default output and to named outputs.

    A stage that emits nothing for a batch dropped it on purpose: its records
    count as acknowledged.
    """

    kind = "stage"

    def outputs(self) -> list[str]:
        """Named outputs besides the default one (referenced as ``<id>.<name>``)."""
        return []

    def process(self, batch: Batch, emit: Emit) -> None:
        raise NotImplementedError

    def finish(self, emit: Emit) -> None:
        """End of input: emit whatever the stage still holds."""


class Sink(_Component[ConfigT]):
    """Writes batches. When :meth:`write` returns, the batch counts as written.

    ``write`` raises :class:`~conduix.errors.RetryableError` for transient
    failures (retried with backoff) and returns the records it could not write
    for good (``[Rejected(error, index=i), ...]``), which go where ``on_error``
    says; every other record of the batch counts as written.
    """

    kind = "sink"

    def write(self, batch: Batch) -> Sequence[Rejected] | None:
        raise NotImplementedError

    tick_interval: ClassVar[float | None] = None
    """Seconds between :meth:`tick` calls, with or without traffic (None: never)."""

    def flush(self) -> None:
        """Make everything written so far durable."""

    def tick(self) -> None:
        """Called from the sink's thread every ``tick_interval`` seconds, between writes: close objects or
        bulk requests that are due by time.

        A sink that completes writes later (a multipart object spanning batches, a producer's delivery
        reports) keeps the batches unacknowledged with ``held = batch.hold()`` in :meth:`write` and calls
        ``release(held)`` (from any thread) once they are durable; :meth:`flush` must complete and release
        everything still held (the run ends only when every batch read is acknowledged).
        """
