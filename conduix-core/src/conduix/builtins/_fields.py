"""Helpers shared by the stateful stages: remap field paths, record keys, durations and event times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from conduix.durations import UNITS, durations, parse_duration
from conduix.errors import RemapCompileError
from conduix.remap import nodes
from conduix.remap.parser import parse
from conduix.remap.paths import get_path

__all__ = ["FieldPath", "KeyFn", "check_paths", "durations", "format_time", "parse_duration", "parse_event_time"]


class FieldPath:
    """A remap event path such as ``.user.id`` or ``.items[0].sku``, read from records."""

    __slots__ = ("segments", "text")

    def __init__(self, text: str) -> None:
        source = text if text.startswith(".") else f".{text}"
        try:
            block = parse(source)
        except RemapCompileError as exc:
            raise ValueError(f"{text!r} is not a remap path: {exc.message}") from None
        exprs = block.exprs
        if len(exprs) != 1 or not isinstance(exprs[0], nodes.Query) or exprs[0].target != "event":
            raise ValueError(f"{text!r} is not a remap path into the record; write it like '.user.id'")
        self.text = source
        self.segments: tuple[nodes.Segment, ...] = tuple(exprs[0].segments)

    def __repr__(self) -> str:
        return f"FieldPath({self.text!r})"

    def get(self, record: dict[str, Any]) -> Any:
        """The value at this path (``None`` when missing)."""
        return get_path(record, self.segments)

    @property
    def name(self) -> str:
        """The last field name of the path (what an output record calls the value)."""
        for seg in reversed(self.segments):
            if isinstance(seg, str):
                return seg
        return self.text.lstrip(".") or "value"


def check_paths(paths: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first path that is not a remap event path (for config validators)."""
    for path in paths:
        FieldPath(path)


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


class KeyFn:
    """The key of a record from one or more paths: a hashable tuple, and a string form for external stores."""

    __slots__ = ("paths",)

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = [FieldPath(p) for p in paths]

    def values(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_hashable(p.get(record)) for p in self.paths)

    def text(self, record: dict[str, Any]) -> str:
        """A stable string for the key (JSON of the values), e.g. for Redis keys."""
        import orjson

        return orjson.dumps([p.get(record) for p in self.paths], option=orjson.OPT_SORT_KEYS).decode()


def parse_event_time(value: Any, unit: str = "s") -> float:
    """Epoch seconds from a record's time field: a number (in ``unit``), an RFC 3339 string or a datetime.

    Raises ``ValueError`` for anything else (a missing field included).
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"the event time is {value!r}; expected a number, an RFC 3339 string or a timestamp")
    if isinstance(value, (int, float)):
        return float(value) * UNITS[unit]
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"the event time {value!r} is not an RFC 3339 timestamp") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    raise ValueError(f"the event time is a {type(value).__name__}; expected a number or an RFC 3339 string")


def format_time(seconds: float, style: str = "iso") -> Any:
    """A window bound for output records: RFC 3339 in UTC (``iso``) or epoch seconds (``unix``)."""
    if style == "unix":
        return int(seconds) if float(seconds).is_integer() else seconds
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
