"""``generate``: records from a template, a count and a rate. For demos, tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, model_validator

from conduix.components import Batch, ComponentConfig, Context, Source
from conduix.runtime.acks import AckTracker

__all__ = ["GenerateSource"]


class GenerateConfig(ComponentConfig):
    count: int | None = Field(None, ge=0, description="Records to produce; unset means forever.")
    rate: float | None = Field(None, gt=0, description="Records per second, for the whole pipeline (with "
                                                       "`settings.workers` > 1 each worker makes its share); unset "
                                                       "means as fast as possible.")
    record: dict[str, Any] | None = Field(None, description="Template record, copied for every record.")
    records: list[dict[str, Any]] | None = Field(None, description="Templates used in turn.")
    resume: bool = Field(False, description="Continue from the checkpointed sequence number on restart "
                                            "(otherwise every run starts at 0).")
    sequence_field: str | None = Field("seq", description="Field set to the record's sequence number; "
                                                          "null for none.")

    @model_validator(mode="after")
    def _one_template(self) -> GenerateConfig:
        if self.record is not None and self.records is not None:
            raise ValueError("give either 'record' or 'records', not both")
        if self.records is not None and not self.records:
            raise ValueError("'records' must not be empty")
        return self


class GenerateSource(Source[GenerateConfig]):
    """Generates records from a template, a count and a rate: for demos, tests and benchmarks.

    Positions are sequence numbers; the checkpoint is the first one not yet acknowledged.
    """

    Config = GenerateConfig

    def __init__(self, config: GenerateConfig, context: Context) -> None:
        super().__init__(config, context)
        self.next_seq = 0
        self.tracker = AckTracker(0)
        self._started = 0.0
        self._templates = config.records or [config.record or {"message": "hello from conduix"}]

    def restore(self, state: dict[str, Any]) -> None:
        if not self.config.resume:
            return
        self.next_seq = int(state.get("sequence", 0))
        self.tracker = AckTracker(self.next_seq)

    def open(self) -> None:
        self._started = time.monotonic()
        self._first = self.next_seq

    def read(self, max_records: int) -> Batch | None:
        if self.context.slice_count > 1:
            return self._read_slice(max_records)
        cfg = self.config
        start = self.next_seq
        n = max_records
        if cfg.count is not None:
            n = min(n, cfg.count - start)
            if n <= 0:
                return None
        n = self._within_rate(start, n)
        if n == 0:
            return Batch([])
        templates = self._templates
        field = cfg.sequence_field
        if len(templates) == 1:
            template = templates[0]
            if field is None:
                records = [template.copy() for _ in range(n)]
            else:
                records = [{**template, field: seq} for seq in range(start, start + n)]
        else:
            k = len(templates)
            records = [dict(templates[seq % k]) for seq in range(start, start + n)]
            if field is not None:
                for seq, record in zip(range(start, start + n), records):
                    record[field] = seq
        self.next_seq = start + n
        return Batch(records, position=(start, start + n))

    def _within_rate(self, start: int, n: int) -> int:
        """How many of ``n`` records from ``start`` the rate allows now (sleeping a little when none):
        ``rate`` is the pipeline's, so each of ``slice_count`` slices makes ``rate / slice_count``."""
        if self.config.rate is None:
            return n
        rate = self.config.rate / self.context.slice_count
        allowed = int((time.monotonic() - self._started) * rate) - (start - self._first)
        if allowed <= 0:
            time.sleep(min(1.0 / rate, 0.1))
            return 0
        return min(n, allowed)

    def _read_slice(self, max_records: int) -> Batch | None:
        """Slice i of n makes the records whose sequence number is i modulo n; positions count its own."""
        cfg, index, count = self.config, self.context.slice_index, self.context.slice_count
        start = self.next_seq
        stop = start + max_records
        if cfg.count is not None:
            stop = min(stop, -(-(cfg.count - index) // count))  # records of this slice below count
            if stop <= start:
                return None
        stop = start + self._within_rate(start, stop - start)
        if stop == start:
            return Batch([])
        templates, field = self._templates, cfg.sequence_field
        records = []
        for k in range(start, stop):
            seq = k * count + index
            record = dict(templates[seq % len(templates)])
            if field is not None:
                record[field] = seq
            records.append(record)
        self.next_seq = stop
        return Batch(records, position=(start, stop))

    def acknowledge(self, position: Any) -> None:
        self.tracker.acknowledge(*position)

    def checkpoint(self) -> dict[str, Any]:
        return {"sequence": self.tracker.watermark}
