"""Type functions: coercion (``to_*``), assertion (``string``, ``int``...) and tests (``is_*``)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from conduix.remap.functions.spec import IDENTITY, FunctionSpec, Param, function, opt
from conduix.remap.values import UTC, ExprError, format_rfc3339, kind_of, kinds, parse_rfc3339

__all__ = ["FUNCTIONS", "float_text"]

FUNCTIONS: list[FunctionSpec] = []

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _debug(text: str) -> str:
    """A string as Rust's ``{:?}`` writes it in VRL's messages: double quotes, escapes."""
    return json.dumps(text, ensure_ascii=False)


def float_text(value: float) -> str:
    """A float as VRL prints it: no trailing ``.0`` for whole numbers."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e17:
        return str(int(value))
    return repr(value)


@function(FUNCTIONS, "to_string", Param("value"), returns=kinds("string"),
          fallible_unless=kinds("string", "integer", "float", "boolean", "null", "timestamp"),
          example='to_string(52) == "52"')
def to_string(value: Any) -> str:
    """Coerce a scalar into a string (``null`` becomes ``""``)."""
    t = type(value)
    if t is str:
        return value
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float:
        return float_text(value)
    if value is None:
        return ""
    if t is datetime:
        return format_rfc3339(value)
    raise ExprError(f"unable to coerce {kind_of(value)} into string")


@function(FUNCTIONS, "to_int", Param("value"), returns=kinds("integer"),
          fallible_unless=kinds("integer", "float", "boolean", "null", "timestamp"),
          example='to_int!("2") == 2')
def to_int(value: Any) -> int:
    """Coerce into an integer: floats are truncated, timestamps give Unix seconds."""
    t = type(value)
    if t is int:
        return value
    if t is float:
        if not math.isfinite(value):
            raise ExprError(f"can't convert {value} to integer")
        return int(value)
    if t is bool:
        return 1 if value else 0
    if value is None:
        return 0
    if t is str:
        if _INTEGER.fullmatch(value) is None:
            raise ExprError(f"Invalid integer {_debug(value)}: invalid digit found in string")
        return int(value)
    if t is datetime:
        return int((value - _EPOCH) // timedelta(seconds=1))
    raise ExprError(f"unable to coerce {kind_of(value)} into integer")


@function(FUNCTIONS, "to_float", Param("value"), returns=kinds("float"),
          fallible_unless=kinds("integer", "float", "boolean", "null", "timestamp"),
          example='to_float!("3.145") == 3.145')
def to_float(value: Any) -> float:
    """Coerce into a float; timestamps give Unix seconds with the fraction."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return float(value)
    if t is bool:
        return 1.0 if value else 0.0
    if value is None:
        return 0.0
    if t is str:
        try:
            if "_" in value or value != value.strip():
                raise ValueError(value)
            result = float(value)
        except ValueError:
            raise ExprError(f"Invalid floating point number {_debug(value)}: invalid float literal") from None
        if not math.isfinite(result):
            raise ExprError(f"Invalid floating point number {_debug(value)}")
        return result
    if t is datetime:
        return (value - _EPOCH) / timedelta(seconds=1)
    raise ExprError(f"unable to coerce {kind_of(value)} into float")


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_INTEGER = re.compile(r"[+-]?\d+")


@function(FUNCTIONS, "to_bool", Param("value"), returns=kinds("boolean"),
          fallible_unless=kinds("integer", "float", "boolean", "null"),
          example='to_bool!("yes") == true')
def to_bool(value: Any) -> bool:
    """Coerce into a boolean: ``"true"``/``"yes"``/``"1"``..., non-zero numbers."""
    t = type(value)
    if t is bool:
        return value
    if t is int or t is float:
        return value != 0
    if value is None:
        return False
    if t is str:
        text = value.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ExprError(f"Invalid boolean value {_debug(value)}")
    raise ExprError(f"unable to coerce {kind_of(value)} into boolean")


_UNITS = {"seconds": 1, "milliseconds": 1_000, "microseconds": 1_000_000, "nanoseconds": 1_000_000_000}


@function(FUNCTIONS, "to_timestamp", Param("value"), opt("unit", kinds("string"), "seconds"),
          returns=kinds("timestamp"), fallible_unless=kinds("timestamp", "integer", "float"),
          example="to_timestamp!(1675968923) == t'2023-02-09T18:55:23Z'")
def to_timestamp(value: Any, unit: str) -> datetime:
    """Coerce into a timestamp: RFC 3339 strings, Unix time numbers (``unit`` seconds by default)."""
    t = type(value)
    if t is datetime:
        return value
    if t is str:
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise ExprError(f"unable to coerce {value!r} into timestamp") from None
    if t is int or t is float:
        divisor = _UNITS.get(unit)
        if divisor is None:
            raise ExprError(f"invalid unit {unit!r}, expected one of {', '.join(_UNITS)}")
        try:
            if t is int:
                return _EPOCH + timedelta(microseconds=value * 1_000_000 // divisor)
            return _EPOCH + timedelta(seconds=value / divisor)
        except OverflowError:
            raise ExprError(f"timestamp {value} out of range") from None
    raise ExprError(f"unable to coerce {kind_of(value)} into timestamp")


def _asserter(kind: str, name: str, example: str) -> None:
    def check(value: Any) -> Any:
        if kind_of(value) != kind:
            raise ExprError(f"expected {kind}, got {kind_of(value)}")
        return value

    check.__doc__ = f"Return the value if it is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, else fail."
    only = kinds(kind)
    # the argument may be anything: the call fails unless it is of the kind (and needs no check when it is)
    function(FUNCTIONS, name, Param("value"), returns=only, fresh=False, example=example, fallible_unless=only,
             fast=lambda rest: IDENTITY, typer=lambda types, consts: types[0].narrow(only),
             returns_argument=True)(check)


_asserter("string", "string", 'string!("foobar") == "foobar"')
_asserter("integer", "int", "int!(42) == 42")
_asserter("float", "float", "float!(0.5) == 0.5")
_asserter("boolean", "bool", "bool!(true) == true")
_asserter("object", "object", 'object!({"a": 1}) == {"a": 1}')
_asserter("array", "array", "array!([1, 2]) == [1, 2]")
_asserter("timestamp", "timestamp", "timestamp!(t'2021-03-26T16:00:00Z') == t'2021-03-26T16:00:00Z'")


def _tester(kind: str, name: str) -> None:
    def test(value: Any) -> bool:
        return kind_of(value) == kind

    test.__doc__ = f"Whether the value is {'an' if kind[0] in 'aeiou' else 'a'} {kind}."
    function(FUNCTIONS, name, Param("value"), returns=kinds("boolean"),
             example=f"{name}(.field)")(test)


for _kind, _name in (("string", "is_string"), ("integer", "is_integer"), ("float", "is_float"),
                     ("boolean", "is_boolean"), ("null", "is_null"), ("array", "is_array"),
                     ("object", "is_object"), ("timestamp", "is_timestamp"), ("regex", "is_regex")):
    _tester(_kind, _name)


@function(FUNCTIONS, "is_empty", Param("value", kinds("string", "object", "array")), returns=kinds("boolean"),
          example='is_empty([]) == true')
def is_empty(value: str | list[Any] | dict[str, Any]) -> bool:
    """Whether a string, object or array has a length of 0."""
    return len(value) == 0


@function(FUNCTIONS, "is_nullish", Param("value"), returns=kinds("boolean"), example='is_nullish("-") == true')
def is_nullish(value: Any) -> bool:
    """Whether the value is null, ``"-"``, or a string of only whitespace (empty included)."""
    if value is None:
        return True
    return type(value) is str and (value == "-" or value.strip() == "")
