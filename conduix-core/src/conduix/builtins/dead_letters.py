"""``dead_letters`` source: reads dead-letter JSON lines (as a ``<id>.dead_letter`` output wrote them to a file)
and emits the original records with their original metadata, so fixed records can be processed again.
``conduix dlq replay`` uses it."""

from __future__ import annotations

from typing import IO, Any

import orjson
from pydantic import Field, model_validator

from conduix.components import Access, Batch, ComponentConfig, Context, Rejected, Source
from conduix.errors import ComponentError, RemapError
from conduix.remap import Condition, compile_condition
from conduix.runtime.acks import AckTracker

__all__ = ["DeadLettersConfig", "DeadLettersSource"]


class DeadLettersConfig(ComponentConfig):
    path: str = Field(..., description="A JSON-lines file of dead letters ({record, error, component, metadata, "
                                       "...} per line).")
    where: str | None = Field(None, description="Remap condition on the dead letter (e.g. .component == "
                                                "\"parse\"); only matching ones are replayed.")

    @model_validator(mode="after")
    def _condition(self) -> DeadLettersConfig:
        if self.where is not None:
            compile_condition(self.where)
        return self


class DeadLettersSource(Source[DeadLettersConfig]):
    """Emits the ``record`` of every dead letter, with its ``metadata`` as the record's metadata."""

    Config = DeadLettersConfig

    @classmethod
    def access(cls, config: DeadLettersConfig) -> Access:
        return Access(reads=(config.path,))

    def __init__(self, config: DeadLettersConfig, context: Context) -> None:
        super().__init__(config, context)
        self.handle: IO[bytes] | None = None
        self.line = 0
        self.tracker = AckTracker(0)
        self.condition: Condition | None = compile_condition(config.where) if config.where else None
        self.skipped = 0
        """Dead letters the ``where`` condition left out."""

    def restore(self, state: dict[str, Any]) -> None:
        self.line = int(state.get("line", 0))
        self.tracker = AckTracker(self.line)

    def open(self) -> None:
        try:
            self.handle = open(self.config.path, "rb")
        except OSError as exc:
            raise ComponentError(f"source {self.id!r}: cannot read dead letters from {self.config.path!r}: {exc}",
                                 component=self.id) from None
        for _ in range(self.line):
            self.handle.readline()

    def read(self, max_records: int) -> Batch | None:
        assert self.handle is not None
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        first = self.line
        while len(records) < max_records:
            raw = self.handle.readline()
            if not raw:
                break
            self.line += 1
            if not raw.strip():
                continue
            where = {"source": self.id, "file": self.config.path, "line": self.line}
            try:
                letter = orjson.loads(raw)
                if not isinstance(letter, dict) or not isinstance(letter.get("record"), dict):
                    raise ValueError("not a dead letter: expected an object with a 'record' object")
                if self.condition is not None and not self.condition.test(letter):
                    self.skipped += 1
                    continue
            except (ValueError, RemapError) as exc:
                rejects.append(Rejected(f"line {self.line}: {exc}", record={"message": raw.decode(errors="replace")},
                                        meta=where))
                continue
            records.append(letter["record"])
            original = letter.get("metadata")
            meta.append(dict(original) if isinstance(original, dict) else {})
        if self.line == first:
            return None
        return Batch(records, meta, position=(first, self.line), rejects=rejects or None)

    def acknowledge(self, position: Any) -> None:
        self.tracker.acknowledge(*position)

    def checkpoint(self) -> dict[str, Any]:
        return {"line": self.tracker.watermark}

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
