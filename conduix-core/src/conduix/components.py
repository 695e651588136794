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

from pydantic import BaseModel, ConfigDict, model_validator

from conduix.access import Access
from conduix.redaction import register_secrets_in

__all__ = [
    "Access",
    "Batch",
    "ComponentConfig",
    "Context",
    "Emit",
    "ReadColumn",
    "Rejected",
    "SharedMeta",
    "Sink",
    "Source",
    "Stage",
    "release",
]


class ComponentConfig(BaseModel):
    """Base of every component's config model; unknown keys are errors.

    The secrets in a validated config (``SecretStr`` fields, URL passwords, options named like ``password``)
    are masked from then on in this process's errors and logs (:mod:`conduix.redaction`). Type password and
    token fields as ``SecretStr``: their values then also print as ``**********``.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _register_secrets(self) -> Any:
        register_secrets_in(self)
        return self


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
    record_errors: Callable[[BaseException | str, int], None] | None = None
    """Set by the runtime to the component's error counter; use :meth:`count_errors`."""

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"conduix.component.{self.component_id}")

    def count_errors(self, error: BaseException | str, n: int = 1) -> None:
        """Count ``n`` records this component failed on and handled itself (a remap program failing on a record
        it then passes on unchanged): they show in the run's error counts, its summary and its exit status."""
        if self.record_errors is not None and n:
            self.record_errors(error, n)


@dataclass
class Rejected:
    """A record a component could not handle; it goes where the component's ``on_error`` says.

    A sink returns these from :meth:`Sink.write` with ``index`` into the batch; a
    source puts them in :attr:`Batch.rejects` with the raw ``record`` (for example
    ``{"message": "<the invalid JSON line>"}``) and its ``meta``, and the input's bytes in ``raw`` when the
    record cannot hold them exactly (bytes that do not decode): dead letters keep them (``raw_base64``).
    """

    error: BaseException | str
    index: int | None = None
    record: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    raw: bytes | None = None


class SharedMeta:
    """The metadata of a batch's records kept per batch: the fields every record shares, and a column (one value
    per record) for each field that differs, as a file source's ``source``, ``file`` and ``line``.

    A source hands it to :class:`Batch` instead of a dict per record; the dicts are made only when a component
    reads :attr:`Batch.meta` (a remap program with ``%`` paths, a dead letter, a sink's template). Selecting
    records (a filter) keeps it per batch. It is never changed: :attr:`Batch.meta` gives dicts of the batch's
    own, which may be.
    """

    __slots__ = ("columns", "shared")

    def __init__(self, shared: dict[str, Any], columns: dict[str, Sequence[Any]]) -> None:
        if not columns:
            raise ValueError("SharedMeta needs at least one column (its length is the number of records)")
        self.shared = shared
        self.columns = columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __repr__(self) -> str:
        return f"SharedMeta({self.shared!r}, {len(self)} records)"

    def dicts(self) -> list[dict[str, Any]]:
        """One new dict per record: the shared fields, then the record's value of each column."""
        shared = self.shared
        if len(self.columns) == 1:
            ((name, values),) = self.columns.items()
            return [{**shared, name: value} for value in values]
        names = list(self.columns)
        copy = shared.copy
        dicts: list[dict[str, Any]] = []
        append = dicts.append
        for row in zip(*self.columns.values()):  # a copy updated in place: 3x faster than {**shared, **dict(...)}
            meta = copy()
            meta.update(zip(names, row))
            append(meta)
        return dicts

    def select(self, indices: Sequence[int]) -> SharedMeta:
        """The metadata of the records at ``indices`` (kept, not copied: do not change it afterwards). Nothing is
        done per record until a column is read: a filter passing on a batch whose metadata nobody reads pays one
        small object per column, not a list."""
        picked: dict[str, Sequence[Any]] = {}
        composed: dict[int, Sequence[int]] = {}  # a selection of a selection: its indices composed once
        for name, values in self.columns.items():
            if type(values) is _Picked:
                key = id(values.indices)
                if key not in composed:
                    base = values.indices
                    composed[key] = [base[i] for i in indices]
                picked[name] = _Picked(values.values, composed[key])
            else:
                picked[name] = _Picked(values, indices)
        return SharedMeta(self.shared, picked)


class ReadColumn(Sequence[Any]):
    """A :class:`SharedMeta` column whose values are read from the batch's items (``read(item)``) only when the
    column is read, each time anew: a source whose metadata takes work per record (decoding a Kafka message's
    headers, say) pays nothing for a batch whose metadata nobody reads. The items are kept as long as the
    batch's metadata is; ``read`` must give a new value (never one shared) for a mutable one, as dicts do."""

    __slots__ = ("items", "read")

    def __init__(self, items: Sequence[Any], read: Callable[[Any], Any]) -> None:
        self.items = items
        self.read = read

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(map(self.read, self.items[index]))
        return self.read(self.items[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self.read, self.items)


class _Picked(Sequence[Any]):
    """The values of a column at some of its indices, looked up when read (see :meth:`SharedMeta.select`)."""

    __slots__ = ("indices", "values")

    def __init__(self, values: Sequence[Any], indices: Sequence[int]) -> None:
        self.values = values
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.values[i] for i in self.indices[index]]
        return self.values[self.indices[index]]

    def __iter__(self) -> Iterator[Any]:
        return map(self.values.__getitem__, self.indices)


class Batch:
    """Records moving together through the pipeline.

    ``records`` is a list of dicts. ``meta`` is ``None`` or a list of the same
    length with one metadata dict per record (source id, position, ingest time,
    connector fields such as topic/partition/offset); a source may give a
    :class:`SharedMeta` instead, whose dicts are made when ``meta`` is first read.
    ``acks`` are the acknowledgement handles of the source batches these records
    came from; a stage that derives a new batch keeps them with :meth:`derive`.
    """

    __slots__ = ("_meta", "acks", "nbytes", "position", "records", "rejects", "trace")

    def __init__(self, records: list[dict[str, Any]], meta: list[dict[str, Any]] | SharedMeta | None = None,
                 *, position: Any = None, acks: Sequence[Any] = (),
                 rejects: list[Rejected] | None = None, nbytes: int | None = None, trace: Any = None) -> None:
        self.records = records
        self._meta = meta
        self.position = position
        self.acks = tuple(acks)
        self.rejects = rejects
        self.nbytes = nbytes
        """Bytes read for this batch, when the source knows (for metrics)."""
        self.trace = trace
        """The trace context of the batch's span (set by the runtime when tracing)."""

    @property
    def meta(self) -> list[dict[str, Any]] | None:
        """One metadata dict per record, or None (made now from a :class:`SharedMeta`, once per batch)."""
        meta = self._meta
        if meta is not None and type(meta) is SharedMeta:
            meta = self._meta = meta.dicts()
        return meta  # type: ignore[return-value]

    @meta.setter
    def meta(self, meta: list[dict[str, Any]] | SharedMeta | None) -> None:
        self._meta = meta

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"Batch({len(self.records)} records, position={self.position!r})"

    def meta_at(self, index: int) -> dict[str, Any]:
        """The metadata of record ``index`` (an empty dict when there is none)."""
        meta = self.meta
        if meta is None:
            return {}
        return meta[index]

    def derive(self, records: list[dict[str, Any]],
               meta: list[dict[str, Any]] | SharedMeta | None = None) -> Batch:
        """A new batch from these records that keeps this batch's acknowledgement handles."""
        return Batch(records, meta, position=self.position, acks=self.acks, trace=self.trace)

    def with_records(self, records: list[dict[str, Any]], indices: Sequence[int] | None = None) -> Batch:
        """A derived batch of ``records``, each keeping the metadata of the record it replaces: the records at
        ``indices`` of this batch (default: all of them, in order). Metadata kept per batch stays so."""
        meta = self._meta
        if meta is not None and indices is not None:
            meta = meta.select(indices) if isinstance(meta, SharedMeta) else [meta[i] for i in indices]
        return self.derive(records, meta)

    def select(self, indices: Sequence[int]) -> Batch:
        """A derived batch holding only the records at ``indices`` (metadata kept aligned)."""
        records = self.records
        return self.with_records([records[i] for i in indices], indices)

    def copy(self) -> Batch:
        """A deep copy of the records and metadata, with the same acknowledgement handles."""
        meta = self._meta
        return Batch([_copy(r) for r in self.records],
                     meta if meta is None or isinstance(meta, SharedMeta) else [dict(m) for m in meta],
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
        meta = self.meta
        if meta is None:
            empty: dict[str, Any] = {}
            for record in self.records:
                yield record, empty
        else:
            yield from zip(self.records, meta)


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def release(held: Sequence[Any], error: BaseException | str | None = None) -> None:
    """Give back what :meth:`Batch.hold` kept (after emitting a batch that carries it, or to drop it).

    With ``error``, the records will not be written by this run: once every delivery of a source batch is
    settled, its source gets :meth:`Source.nack` instead of :meth:`Source.acknowledge` (a sink that held
    batches and cannot complete them, for example). This is the one place acknowledgement handles are settled.
    """
    if error is None:
        for token in held:
            token.settle()
    else:
        for token in held:
            token.fail(error)


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

    @classmethod
    def access(cls, config: Any) -> Access:
        """What a component with ``config`` reaches outside the pipeline: whether it runs code the pipeline
        names, the files it reads and writes, the hosts it connects to. Agents check it against their
        allow-lists before building anything (:class:`conduix.access.AccessPolicy`); a component that reaches
        files or hosts must say so here. Default: nothing."""
        return Access()

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

    def nack(self, position: Any, error: BaseException | str) -> None:
        """The batch at ``position`` will not be written by this run: a component failed on it (``error`` says
        why; the run is ending), or the run stopped before a sink could take it. Called in the source's thread,
        like :meth:`acknowledge`, at most once per batch and never for a batch that is acknowledged.

        The default does nothing, which is right for sources with checkpoints: the position is never
        acknowledged, so no checkpoint passes it and the next run reads the batch again. Message sources
        may hand the messages back now (a NATS nak, an AMQP reject) instead of when they close.
        """

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
        """Asked to stop reading (shutdown). May be called from another thread, also while :meth:`open` is
        still connecting: a source that cannot connect may then return from ``open()`` and end (``read``
        returning None), or raise."""


class Stage(_Component[ConfigT]):
    """Transforms batches; emits to its default output and to named outputs.

    A stage that emits nothing for a batch dropped it on purpose: its records
    count as acknowledged.
    """

    kind = "stage"

    @classmethod
    def outputs_for(cls, config: Any) -> list[str] | None:
        """Named outputs besides the default one (referenced as ``<id>.<name>``) of a stage with ``config``,
        known without building it: the control plane checks pipelines without building their components.

        Override this rather than :meth:`outputs`. None means only a built instance knows (a stage that
        overrides :meth:`outputs` alone); a check then accepts any output name of it.
        """
        return None if cls.outputs is not Stage.outputs else []

    def outputs(self) -> list[str]:
        """Named outputs of this stage (by default :meth:`outputs_for` its config)."""
        return list(type(self).outputs_for(self.config) or [])

    def process(self, batch: Batch, emit: Emit) -> Sequence[Rejected] | None:
        """Emit what becomes of ``batch``. May return the records it could not handle for good
        (``[Rejected(error, index=i), ...]``), which go where ``on_error`` says, as a sink's rejects do."""
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

    local: ClassVar[bool] = False
    """Writes to this machine, quickly and without waiting on a server (file, stdout, blackhole): with one input
    and the default buffer it then writes from its upstream's thread, with no hand-off between threads."""

    writes_inline: bool = False
    """Writes from its upstream's thread too (with one input and the default buffer), though it waits on a
    server: for a sink whose write is a loop of cheap calls and then a wait with the GIL released (the Kafka
    sink: produce, then flush), a thread of its own costs more CPU than it saves (two busy threads taking turns
    at the GIL, on different cores). A ``buffer`` block on the sink brings its thread back: the source then
    reads on while the sink waits (worth it on a slow link to the server)."""

    def flush(self) -> None:
        """Make everything written so far durable."""

    def stop(self) -> None:
        """The run is stopping (or aborting). Called from another thread, possibly while :meth:`open` still
        waits for the external system: a sink that cannot connect should then give up and raise from
        ``open()``; the runtime hands the batches waiting for it back to their sources unwritten
        (:meth:`Source.nack`) and the run ends as stopped, not failed."""

    def tick(self) -> None:
        """Called from the sink's thread every ``tick_interval`` seconds, between writes: close objects or
        bulk requests that are due by time.

        A sink that completes writes later (a multipart object spanning batches, a producer's delivery
        reports) keeps the batches unacknowledged with ``held = batch.hold()`` in :meth:`write` and calls
        ``release(held)`` (from any thread) once they are durable; :meth:`flush` must complete and release
        everything still held (the run ends only when every batch read is acknowledged).
        """
