"""Counters a component's thread updates and anyone may read."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ComponentStats"]


@dataclass
class ComponentStats:
    id: str
    kind: str
    type: str
    records_in: int = 0
    records_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    batches_in: int = 0
    batches_out: int = 0
    errors: int = 0
    dropped: int = 0
    dead_letters: int = 0
    retries: int = 0
    buffered: int = 0
    restarts: int = 0
    acknowledged: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def count_error(self, error: BaseException | str, n: int = 1) -> None:
        kind = type(error).__name__ if isinstance(error, BaseException) else "Error"
        self.errors += n
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started")
        return data
