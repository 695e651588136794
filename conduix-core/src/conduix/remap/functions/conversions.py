"""Numbers and units from text (integers, floats, durations, byte sizes), Syslog codes, regexes, geography."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from conduix.remap.functions._support import compile_pattern
from conduix.remap.functions.logs import FACILITIES, SEVERITIES
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
I = kinds("integer")  # noqa: E741
F = kinds("float")


@function(FUNCTIONS, "parse_int", Param("value", S), opt("base", I, None), returns=I, fallible=True,
          example='parse_int!("0x2a") == 42')
def parse_int(value: str, base: int | None) -> int:
    """An integer from text in ``base`` (2 to 36), or by its prefix: ``0b``, ``0o``, ``0x``, ``0`` (octal)."""
    if base is not None:
        if not 2 <= base <= 36:
            raise ExprError(f"invalid base {base}: must be be between 2 and 36 (inclusive)")
        digits = value
    elif not value:
        raise ExprError("value is empty")
    elif value[0] == "0" and len(value) > 1:
        base, digits = {"b": (2, value[2:]), "o": (8, value[2:]), "x": (16, value[2:])}.get(value[1], (8, value))
    else:
        base, digits = 10, value
    if not digits or digits != digits.strip() or "_" in digits:
        raise ExprError("could not parse integer: invalid digit found in string")
    try:
        number = int(digits, base)
    except ValueError:
        raise ExprError("could not parse integer: invalid digit found in string") from None
    if not -(1 << 63) <= number < 1 << 63:
        raise ExprError("could not parse integer: number too large to fit in target type")
    return number


_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I)


@function(FUNCTIONS, "parse_float", Param("value", S), returns=F, fallible=True,
          example='parse_float!("2.5e3") == 2500.0')
def parse_float(value: str) -> float:
    """A float from text (``-42``, ``42.38``, ``2.5e3``)."""
    if _FLOAT.fullmatch(value) is None:
        raise ExprError("could not parse float: invalid float literal")
    number = float(value)
    if math.isnan(number):
        raise ExprError("could not parse float: NaN is not a number remap can hold")
    return number


_DURATION_UNITS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"), "ms": Decimal("0.001"),
                   "cs": Decimal("0.01"), "ds": Decimal("0.1"), "s": Decimal(1), "m": Decimal(60),
                   "h": Decimal(3600), "d": Decimal(86400), "w": Decimal(604800)}
_DURATION = re.compile(r"([0-9]*\.?[0-9]+)\s?([µa-z]{1,2})", re.I)


@function(FUNCTIONS, "parse_duration", Param("value", S), Param("unit", S), returns=F, fallible=True,
          example='parse_duration!("1s 1ms", unit: "ms") == 1001.0')
def parse_duration(value: str, unit: str) -> float:
    """A duration (``1h 30m``, ``250ms``...) as a number of ``unit`` (ns, us, ms, cs, ds, s, m, h, d, w)."""
    factor = _DURATION_UNITS.get(unit)
    if factor is None:
        raise ExprError(f"unknown unit format: '{unit}'")
    total = 0.0
    rest = value
    while rest:
        match = _DURATION.search(rest)
        if match is None:
            raise ExprError(f"unable to parse duration: '{rest}'")
        part = _DURATION_UNITS.get(match.group(2))
        if part is None:
            raise ExprError(f"unknown duration unit: '{match.group(2)}'")
        total += float(Decimal(match.group(1)) * part / factor)
        rest = rest[match.end():]
    return total


_BINARY = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60,
           "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50, "EB": 1 << 60}
_DECIMAL = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15, "EB": 10**18}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpe]?)(i?)(b?)\s*", re.I)


def _size(text: str, binary: bool) -> int:
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ExprError(f"unable to parse bytes: '{text}'")
    number, prefix, binary_marker, _ = match.groups()
    power = "kmgtpe".find(prefix.lower()) + 1
    scale = (1024 if binary or binary_marker else 1000) ** power
    return int(Decimal(number) * scale)


@function(FUNCTIONS, "parse_bytes", Param("value", S), Param("unit", S), opt("base", S, "2"), returns=F,
          fallible=True, example='parse_bytes!("1024KiB", unit: "MiB") == 1.0')
def parse_bytes(value: str, unit: str, base: str) -> float:
    """A size (``1.5 GiB``, ``4TB``) as a number of ``unit``; ``base`` 2 reads KB as 1024 bytes, 10 as 1000."""
    if base not in ("2", "10"):
        raise ExprError('base must be "2" or "10"')
    units = _BINARY if base == "2" else _DECIMAL
    factor = units.get(unit)
    if factor is None:
        raise ExprError(f"unknown unit format: '{unit}'")
    return float(Decimal(_size(value, base == "2")) / factor)


@function(FUNCTIONS, "to_syslog_facility", Param("value", I), returns=S, fallible=True,
          example='to_syslog_facility!(4) == "auth"')
def to_syslog_facility(value: int) -> str:
    """The Syslog facility keyword of a facility code (0 is ``kern``)."""
    names = (*FACILITIES[:13], "security", "console", "solaris-cron", *FACILITIES[16:])
    if not 0 <= value < len(names):
        raise ExprError(f"facility code {value} not valid")
    return names[value]


@function(FUNCTIONS, "to_syslog_facility_code", Param("value", S), returns=I, fallible=True,
          example='to_syslog_facility_code!("authpriv") == 10')
def to_syslog_facility_code(value: str) -> int:
    """The Syslog facility code of a keyword."""
    names = (*FACILITIES[:13], "security", "console", "solaris-cron", *FACILITIES[16:])
    if value not in names:
        raise ExprError(f"syslog facility '{value}' not valid")
    return names.index(value)


@function(FUNCTIONS, "to_syslog_level", Param("value", I), returns=S, fallible=True,
          example='to_syslog_level!(5) == "notice"')
def to_syslog_level(value: int) -> str:
    """The Syslog severity keyword of a level (0 is ``emerg``)."""
    if not 0 <= value < len(SEVERITIES):
        raise ExprError(f"severity level {value} not valid")
    return SEVERITIES[value]


_SEVERITY_CODES = {name: code for code, name in enumerate(SEVERITIES)} | {"panic": 0, "error": 3, "warn": 4}


@function(FUNCTIONS, "to_syslog_severity", Param("value", S), returns=I, fallible=True,
          example='to_syslog_severity!("alert") == 1')
def to_syslog_severity(value: str) -> int:
    """The Syslog severity level of a keyword (``err``/``error``, ``warning``/``warn``...)."""
    code = _SEVERITY_CODES.get(value)
    if code is None:
        raise ExprError(f"syslog level {value} not valid")
    return code


@function(FUNCTIONS, "to_regex", Param("value", S), returns=kinds("regex"), fallible=True,
          example="to_regex!(\"^foo$\") == r'^foo$'")
def to_regex(value: str) -> Any:
    """Compile a string into a regex (the same engine and syntax as regex literals)."""
    return compile_pattern(value)


_EARTH_KM = 6_371_008.8 / 1000.0


def _rounded(value: float, digits: int) -> float:
    scale = 10.0 ** digits
    number = value * scale
    return (math.floor(number + 0.5) if number >= 0 else math.ceil(number - 0.5)) / scale


@function(FUNCTIONS, "haversine", Param("latitude1", F), Param("longitude1", F), Param("latitude2", F),
          Param("longitude2", F), opt("measurement_unit", S, "kilometers"), returns=kinds("object"),
          example='haversine(0.0, 0.0, 10.0, 10.0) == {"distance": 1568.5227233, "bearing": 44.561}')
def haversine(latitude1: float, longitude1: float, latitude2: float, longitude2: float,
              measurement_unit: str) -> dict[str, float]:
    """Great-circle ``distance`` (kilometers or miles) and initial ``bearing`` (degrees) between two points."""
    if measurement_unit not in ("kilometers", "miles"):
        raise ExprError('measurement_unit must be "kilometers" or "miles"')
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (latitude1, longitude1, latitude2, longitude2))
    dlon, dlat = lon2 - lon1, lat2 - lat1
    a = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    angle = 2.0 * math.asin(math.sqrt(a))
    radius = _EARTH_KM if measurement_unit == "kilometers" else _EARTH_KM * 0.6213712
    y = math.sin(dlon) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    bearing = (math.degrees(math.atan2(y, x)) + 360.0) % 360.0
    return {"distance": _rounded(angle * radius, 7), "bearing": _rounded(bearing, 3)}

