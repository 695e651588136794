"""Timestamp functions and the chrono-style ``strftime`` formats VRL uses.

VRL formats follow Rust's chrono, which differs from C ``strftime`` in a few
specifiers (``%+``, ``%.f``, ``%3f``, ``%:z``, ``%v``...). Formatting is done
here specifier by specifier; parsing translates the format to Python's
``strptime``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import UTC, ExprError, kinds, parse_rfc3339

__all__ = ["FUNCTIONS", "parse_with_format", "strftime"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
T = kinds("timestamp")


def _offset(dt: datetime, colon: bool) -> str:
    delta = dt.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"


def _auto_fraction(dt: datetime) -> str:
    micro = dt.microsecond
    if micro == 0:
        return ""
    if micro % 1000 == 0:
        return f".{micro // 1000:03d}"
    return f".{micro:06d}"


_Spec = Callable[[datetime], str]
_SPECS: dict[str, _Spec] = {
    "Y": lambda d: f"{d.year:04d}",
    "C": lambda d: f"{d.year // 100:02d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "b": lambda d: d.strftime("%b"),
    "h": lambda d: d.strftime("%b"),
    "B": lambda d: d.strftime("%B"),
    "d": lambda d: f"{d.day:02d}",
    "e": lambda d: f"{d.day:2d}",
    "a": lambda d: d.strftime("%a"),
    "A": lambda d: d.strftime("%A"),
    "w": lambda d: str((d.weekday() + 1) % 7),
    "u": lambda d: str(d.isoweekday()),
    "U": lambda d: d.strftime("%U"),
    "W": lambda d: d.strftime("%W"),
    "G": lambda d: f"{d.isocalendar()[0]:04d}",
    "g": lambda d: f"{d.isocalendar()[0] % 100:02d}",
    "V": lambda d: f"{d.isocalendar()[1]:02d}",
    "j": lambda d: d.strftime("%j"),
    "H": lambda d: f"{d.hour:02d}",
    "k": lambda d: f"{d.hour:2d}",
    "I": lambda d: f"{(d.hour % 12) or 12:02d}",
    "l": lambda d: f"{(d.hour % 12) or 12:2d}",
    "P": lambda d: "am" if d.hour < 12 else "pm",
    "p": lambda d: "AM" if d.hour < 12 else "PM",
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "f": lambda d: f"{d.microsecond * 1000:09d}",
    ".f": _auto_fraction,
    ".3f": lambda d: f".{d.microsecond // 1000:03d}",
    ".6f": lambda d: f".{d.microsecond:06d}",
    ".9f": lambda d: f".{d.microsecond * 1000:09d}",
    "3f": lambda d: f"{d.microsecond // 1000:03d}",
    "6f": lambda d: f"{d.microsecond:06d}",
    "9f": lambda d: f"{d.microsecond * 1000:09d}",
    "z": lambda d: _offset(d, False),
    ":z": lambda d: _offset(d, True),
    "Z": lambda d: d.tzname() or "UTC",
    "s": lambda d: str(int(d.timestamp())),
    "t": lambda d: "\t",
    "n": lambda d: "\n",
    "%": lambda d: "%",
    "D": lambda d: strftime(d, "%m/%d/%y"),
    "x": lambda d: strftime(d, "%m/%d/%y"),
    "F": lambda d: strftime(d, "%Y-%m-%d"),
    "v": lambda d: strftime(d, "%e-%b-%Y"),
    "R": lambda d: strftime(d, "%H:%M"),
    "T": lambda d: strftime(d, "%H:%M:%S"),
    "X": lambda d: strftime(d, "%H:%M:%S"),
    "r": lambda d: strftime(d, "%I:%M:%S %p"),
    "c": lambda d: strftime(d, "%a %b %e %H:%M:%S %Y"),
    "+": lambda d: strftime(d, "%Y-%m-%dT%H:%M:%S%.f%:z"),
}
_SPEC_RE = re.compile(r"%([-_0]?)(\.[369]?f|[369]f|:z|[A-Za-z%+])")


def strftime(value: datetime, fmt: str) -> str:
    """Format a timestamp with a chrono format string."""

    def one(match: re.Match[str]) -> str:
        pad, spec = match.groups()
        render = _SPECS.get(spec)
        if render is None:
            raise ExprError(f"invalid format: unknown specifier %{spec}")
        text = render(value)
        if pad == "-":
            text = text.lstrip("0 ") or "0"
        elif pad == "_":
            text = text.replace("0", " ", 1) if text.startswith("0") and len(text) > 1 else text
        return text

    return _SPEC_RE.sub(one, fmt)


_PARSE_MAP = {
    "T": "%H:%M:%S", "R": "%H:%M", "D": "%m/%d/%y", "x": "%m/%d/%y", "F": "%Y-%m-%d", "v": "%d-%b-%Y",
    "e": "%d", "k": "%H", "l": "%I", ":z": "%z", "P": "%p", "h": "%b", "X": "%H:%M:%S",
    "r": "%I:%M:%S %p", "c": "%a %b %d %H:%M:%S %Y", ".f": ".%f", ".3f": ".%f", ".6f": ".%f", ".9f": ".%f",
    "3f": "%f", "6f": "%f", "9f": "%f", "f": "%f",
}


@functools.lru_cache(maxsize=256)
def _python_format(fmt: str) -> str:
    def one(match: re.Match[str]) -> str:
        spec = match.group(2)
        return _PARSE_MAP.get(spec, "%" + spec)

    return _SPEC_RE.sub(one, fmt)


def zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    if name == "local":
        return datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExprError(f"unknown timezone {name!r}") from None


_FRACTION = re.compile(r"(\.\d{6})\d+")
_SPACES = re.compile(r"\s+")


def parse_with_format(value: str, fmt: str, tz: tzinfo | None = None) -> datetime:
    """Parse text with a chrono format; times without an offset are in ``tz`` (UTC by default)."""
    if fmt.strip() == "%+":
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise ExprError(f"failed parsing timestamp {value!r} with format {fmt!r}") from None
    if fmt.strip() == "%s":
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ValueError, OverflowError):
            raise ExprError(f"failed parsing timestamp {value!r} with format {fmt!r}") from None
    text = _FRACTION.sub(r"\1", value) if "f" in fmt else value
    python_format = _python_format(fmt)
    try:
        parsed = datetime.strptime(text, python_format)
    except ValueError as exc:
        # chrono treats whitespace in a format as optional; retry without any
        try:
            parsed = datetime.strptime(_SPACES.sub("", text), _SPACES.sub("", python_format))
        except ValueError:
            raise ExprError(f"failed parsing timestamp {value!r} with format {fmt!r}: {exc}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz or UTC)
    return parsed.astimezone(UTC)


@function(FUNCTIONS, "now", returns=T, example="now()")
def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


@function(FUNCTIONS, "format_timestamp", Param("value", T), Param("format", S), opt("timezone", S, None),
          returns=S, fallible=True,
          example="format_timestamp!(t'2020-10-21T16:00:00Z', format: \"%v %R\") == \"21-Oct-2020 16:00\"")
def format_timestamp(value: datetime, format: str, timezone: str | None) -> str:
    """Format a timestamp with a chrono format string, in UTC or the given timezone."""
    tz = zone(timezone)
    return strftime(value.astimezone(tz or UTC), format)


@function(FUNCTIONS, "parse_timestamp", Param("value", S), Param("format", S), opt("timezone", S, None),
          returns=T, fallible=True,
          example="parse_timestamp!(\"10-Oct-2020 16:00+00:00\", format: \"%v %R %:z\") == "
                  "t'2020-10-10T16:00:00Z'")
def parse_timestamp(value: str, format: str, timezone: str | None) -> datetime:
    """Parse a string into a timestamp with a chrono format string."""
    return parse_with_format(value, format, zone(timezone))


_UNITS = {"seconds": 1, "milliseconds": 1_000, "microseconds": 1_000_000, "nanoseconds": 1_000_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _unit(unit: str) -> int:
    per_second = _UNITS.get(unit)
    if per_second is None:
        raise ExprError(f"invalid unit {unit!r}, expected one of {', '.join(_UNITS)}")
    return per_second


@function(FUNCTIONS, "from_unix_timestamp", Param("value", kinds("integer")), opt("unit", S, "seconds"),
          returns=T, fallible=True, example="from_unix_timestamp!(5) == t'1970-01-01T00:00:05Z'")
def from_unix_timestamp(value: int, unit: str) -> datetime:
    """The timestamp ``value`` seconds (or ``unit``) after the Unix epoch."""
    per_second = _unit(unit)
    try:
        return _EPOCH + timedelta(microseconds=value * 1_000_000 // per_second)
    except OverflowError:
        raise ExprError(f"timestamp {value} {unit} is out of range") from None


@function(FUNCTIONS, "to_unix_timestamp", Param("value", T), opt("unit", S, "seconds"),
          returns=kinds("integer"), example="to_unix_timestamp(t'2021-01-01T00:00:00Z') == 1609459200")
def to_unix_timestamp(value: datetime, unit: str) -> int:
    """The number of seconds (or ``unit``) since the Unix epoch."""
    delta = value - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * _unit(unit) // 1_000_000
