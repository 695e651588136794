"""Remap values: kinds, equality and ordering, timestamps and the internal error type.

Remap values are plain Python objects: ``str``, ``int``, ``float``, ``bool``,
``None``, timezone-aware :class:`datetime.datetime` (always UTC), compiled
regular expressions, ``list`` and ``dict``. A ``bool`` is never an integer here,
so every kind test looks at the exact type.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from conduix.remap.regex import REGEX_TYPES

__all__ = [
    "ANY",
    "ITEM_OF_VALUE",
    "KIND_DEFAULTS",
    "LENIENT",
    "UTC",
    "ExprError",
    "Kinds",
    "Returned",
    "compare",
    "display",
    "export",
    "format_rfc3339",
    "kind_of",
    "kinds",
    "parse_rfc3339",
    "printable",
    "values_equal",
]

UTC = timezone.utc

Kinds = frozenset[str] | None
"""A static type: the set of kind names a value may have, or ``None`` for any kind."""

ANY: Kinds = None

ITEM_OF_VALUE: frozenset[str] = frozenset({"any"})
"""In :attr:`FunctionSpec.closure`: the closure parameter is an item of the function's first argument (its type
is inferred from the collection's type, as VRL does)."""

LENIENT = ITEM_OF_VALUE
"""The former name of :data:`ITEM_OF_VALUE`, kept for function modules that use it."""

_KIND_BY_TYPE: dict[type, str] = {
    **{t: "regex" for t in REGEX_TYPES},
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    type(None): "null",
    datetime: "timestamp",
    list: "array",
    dict: "object",
}

KIND_DEFAULTS: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "float": 0.0,
    "boolean": False,
    "null": None,
    "array": [],
    "object": {},
}
"""What the ok target of ``x, err = f(...)`` holds when ``f`` fails, by return kind."""


def kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


class ExprError(Exception):
    """A runtime error inside a program (turned into :class:`~conduix.errors.RemapError`).

    Functions raise it with a message only; the compiled call site adds the
    function name and the program position. ``x, err = f(...)`` and ``??``
    catch it.
    """

    __slots__ = ("column", "function", "line", "message", "span")

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.function: str | None = None
        self.span: str | None = None
        """VRL's byte span of the failing call, ``(start:end)``."""

    def full_message(self) -> str:
        """VRL's wording: ``function call error for "upcase" at (10:24): expected string, got null``."""
        if self.function is not None:
            at = f" at {self.span}" if self.span else ""
            return f'function call error for "{self.function}"{at}: {self.message}'
        return self.message


class Returned(Exception):
    """``return value``: unwinds to the program's or the closure's run (never an :class:`ExprError`)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def kind_of(value: Any) -> str:
    """The remap kind name of a Python value (``integer``, ``object``...)."""
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (bytes, bytearray)):
        return "string"
    raise ExprError(f"unsupported value type {type(value).__name__}")


# -- timestamps ---------------------------------------------------------------

def format_rfc3339(value: datetime) -> str:
    """RFC 3339 text as VRL prints timestamps: UTC, ``Z``, 0, 3 or 6 fraction digits."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    micro = value.microsecond
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if micro == 0:
        return base + "Z"
    if micro % 1000 == 0:
        return f"{base}.{micro // 1000:03d}Z"
    return f"{base}.{micro:06d}Z"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))\Z"
)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (fractions beyond microseconds are truncated)."""
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}")
    year, month, day, hour, minute, second, frac, zulu, sign, oh, om = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    if not zulu:
        offset = timedelta(hours=int(oh), minutes=int(om))
        value = value - offset if sign == "+" else value + offset
    return value


# -- equality and ordering ----------------------------------------------------

_SIMPLE = (str, int, float, type(None))


def values_equal(left: Any, right: Any) -> bool:
    """VRL equality: integers and floats compare by value, a boolean never equals a number."""
    tl = type(left)
    tr = type(right)
    if tl is tr and tl in _SIMPLE:
        return bool(left == right)
    if tl is bool or tr is bool:
        return tl is tr and left == right
    if tl is dict:
        if tr is not dict or left.keys() != right.keys():
            return False
        return all(values_equal(v, right[k]) for k, v in left.items())
    if tl is list:
        if tr is not list or len(left) != len(right):
            return False
        return all(values_equal(a, b) for a, b in zip(left, right))
    if tl in (int, float) and tr in (int, float):
        return bool(left == right)
    if tl in REGEX_TYPES and tr in REGEX_TYPES:
        return bool(left.pattern == right.pattern)
    if tl is not tr:
        return False
    return bool(left == right)


def compare(op: str, left: Any, right: Any) -> bool:
    """``<``, ``<=``, ``>``, ``>=`` between numbers, strings or timestamps; anything else is an error."""
    tl = type(left)
    tr = type(right)
    ok = (
        (tl in (int, float) and tr in (int, float))
        or (tl is str and tr is str)
        or (tl is datetime and tr is datetime)
    )
    if not ok:
        raise ExprError(f"can't compare {kind_of(left)} {op} {kind_of(right)}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def display(value: Any) -> str:
    """A value written as VRL prints it in messages: ``"text"``, ``[1, 2]``, ``{ "a": 1 }``."""
    import json

    t = type(value)
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is str:
        return json.dumps(value, ensure_ascii=False)
    if t is float:
        return repr(value) if not value.is_integer() else f"{value:.1f}"
    if t is list:
        return "[" + ", ".join(display(v) for v in value) + "]"
    if t is dict:
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {display(v)}" for k, v in value.items()) + " }"
    if t is datetime:
        return f"t'{format_rfc3339(value)}'"
    if t in REGEX_TYPES:
        return f"r'{value.pattern}'"
    return str(value)


def printable(text: str) -> str:
    """``text`` as valid Unicode: bytes kept in it by binary functions (lone surrogates) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace").decode("utf-8")


def export(value: Any) -> Any:
    """A JSON-ready copy of a value: timestamps as RFC 3339 strings, regexes as their pattern."""
    t = type(value)
    if t is str:
        return value if value.isascii() else printable(value)
    if t in _SIMPLE or t is bool:
        if t is float and not math.isfinite(value):
            return None
        return value
    if t is dict:
        return {k: export(v) for k, v in value.items()}
    if t is list:
        return [export(v) for v in value]
    if t is datetime:
        return format_rfc3339(value)
    if t in REGEX_TYPES:
        return value.pattern
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value
