"""The ``mask`` stage: hide e-mail addresses (keep the first letter and the domain) and drop fields."""

from __future__ import annotations

import re

from pydantic import Field

from conduix.connector import Batch, ComponentConfig, Emit, Stage

_EMAIL = re.compile(r"([A-Za-z0-9])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


class MaskConfig(ComponentConfig):
    fields: list[str] = Field(..., min_length=1, description="Fields whose e-mail addresses are masked.")
    remove: list[str] = Field(default_factory=list, description="Fields removed from every record.")


class MaskStage(Stage[MaskConfig]):
    Config = MaskConfig

    def process(self, batch: Batch, emit: Emit) -> None:
        fields, remove = self.config.fields, self.config.remove
        for record in batch.records:
            for name in fields:
                value = record.get(name)
                if isinstance(value, str):
                    record[name] = _EMAIL.sub(r"\1***@\2", value)
            for name in remove:
                record.pop(name, None)
        emit(batch)
