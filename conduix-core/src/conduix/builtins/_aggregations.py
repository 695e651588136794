"""The named aggregations of the ``aggregate`` stage: count, sum, avg, min, max, first, last, collect,
count_distinct. Each keeps a small state per (window, group) that can be updated, merged (session
windows that grow together) and read out."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from conduix.builtins._fields import FieldPath, _hashable
from conduix.components import ComponentConfig

__all__ = ["AggregationSpec", "Aggregator", "parse_aggregation"]

Op = Literal["count", "sum", "avg", "min", "max", "first", "last", "collect", "count_distinct"]
NUMERIC = frozenset({"sum", "avg", "min", "max"})
_SHORT = re.compile(r"^\s*(\w+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


class AggregationSpec(ComponentConfig):
    """One named aggregation: ``{type: sum, field: .amount}`` (or the short form ``sum(.amount)``)."""

    type: Op = Field(..., description="count, sum, avg, min, max, first, last, collect or count_distinct.")
    field: str | None = Field(None, description="The remap path aggregated, e.g. '.amount'; count without a "
                                                "field counts records, with one the non-null values.")
    limit: int = Field(100, ge=1, description="collect: keep at most this many values per window and group.")

    @model_validator(mode="after")
    def _field_when_needed(self) -> AggregationSpec:
        if self.field is None and self.type != "count":
            raise ValueError(f"aggregation {self.type!r} needs a 'field' (a remap path such as .amount)")
        if self.field is not None:
            FieldPath(self.field)
        return self


def parse_aggregation(value: Any) -> Any:
    """Turn the short form ``'sum(.amount)'`` / ``'count'`` into a mapping; leave mappings alone."""
    if not isinstance(value, str):
        return value
    match = _SHORT.match(value)
    if not match:
        raise ValueError(f"{value!r} is not an aggregation; write e.g. 'count', 'sum(.amount)' or "
                         "{type: sum, field: .amount}")
    return {"type": match.group(1), **({"field": match.group(2)} if match.group(2) else {})}


class Aggregator:
    """Reads one aggregation's input from records and keeps its per-group state as a small list."""

    __slots__ = ("limit", "name", "op", "path")

    def __init__(self, name: str, spec: AggregationSpec) -> None:
        self.name = name
        self.op = spec.type
        self.limit = spec.limit
        self.path = FieldPath(spec.field) if spec.field is not None else None

    def value(self, record: dict[str, Any]) -> Any:
        """The input of this aggregation for ``record``; raises ``ValueError`` for a non-number where one is
        needed (before any state changes, so a bad record fails alone)."""
        if self.path is None:
            return 1
        value = self.path.get(record)
        if value is not None and self.op in NUMERIC and (isinstance(value, bool)
                                                         or not isinstance(value, (int, float))):
            raise ValueError(f"aggregation {self.name!r} ({self.op}) needs a number at {self.path.text}, "
                             f"got {type(value).__name__} {value!r}")
        return value

    def new(self) -> list[Any]:
        op = self.op
        if op in ("count", "sum"):
            return [0]
        if op == "avg":
            return [0, 0]
        if op == "collect":
            return [[]]
        if op == "count_distinct":
            return [set()]
        return [None, False]  # min, max, first, last: value, seen

    def add(self, state: list[Any], value: Any) -> None:
        if value is None:
            return
        op = self.op
        if op == "count":
            state[0] += 1
        elif op == "sum":
            state[0] += value
        elif op == "avg":
            state[0] += value
            state[1] += 1
        elif op == "collect":
            if len(state[0]) < self.limit:
                state[0].append(value)
        elif op == "count_distinct":
            state[0].add(_hashable(value))
        elif not state[1] or op == "last" or (op == "min" and value < state[0]) or (op == "max" and value > state[0]):
            state[0], state[1] = value, True

    def merge(self, into: list[Any], later: list[Any]) -> None:
        """Fold ``later`` (the state of a window that starts after ``into``'s) into ``into``."""
        op = self.op
        if op in ("count", "sum"):
            into[0] += later[0]
        elif op == "avg":
            into[0] += later[0]
            into[1] += later[1]
        elif op == "collect":
            into[0] = (into[0] + later[0])[:self.limit]
        elif op == "count_distinct":
            into[0] |= later[0]
        elif later[1] and (op != "first" or not into[1]):
            if op == "min" and into[1]:
                into[0] = min(into[0], later[0])
            elif op == "max" and into[1]:
                into[0] = max(into[0], later[0])
            else:
                into[0] = later[0]
            into[1] = True

    def result(self, state: list[Any]) -> Any:
        op = self.op
        if op in ("count", "sum"):
            return state[0]
        if op == "avg":
            return state[0] / state[1] if state[1] else None
        if op == "collect":
            return list(state[0])
        if op == "count_distinct":
            return len(state[0])
        return state[0]
