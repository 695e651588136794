"""Number functions: rounding, remainder and absolute value."""

from __future__ import annotations

import math
from collections.abc import Callable

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

NUMBER = kinds("integer", "float")
INT = kinds("integer")


def _round_half_away(value: float) -> float:
    return math.floor(value + 0.5) if value >= 0 else math.ceil(value - 0.5)


def _rounder(mode: Callable[[float], float]) -> Callable[[int | float, int], int | float]:
    def apply(value: int | float, precision: int) -> int | float:
        if type(value) is int:
            return value
        if precision <= 0:
            return float(mode(value))
        scale = 10.0 ** precision
        return mode(value * scale) / scale

    return apply


for _name, _mode, _example in (
    ("floor", math.floor, "floor(4.345, precision: 2) == 4.34"),
    ("ceil", math.ceil, "ceil(4.345, precision: 2) == 4.35"),
    ("round", _round_half_away, "round(4.345, precision: 2) == 4.35"),
):
    _impl = _rounder(_mode)
    _impl.__doc__ = (f"{_name.capitalize()} a number to ``precision`` decimals (integers are returned as they are"
                     + ("; halves round away from zero)." if _name == "round" else ")."))
    function(FUNCTIONS, _name, Param("value", NUMBER), opt("precision", INT, 0), returns=NUMBER,
             example=_example)(_impl)


@function(FUNCTIONS, "mod", Param("value", NUMBER), Param("modulus", NUMBER), returns=NUMBER,
          example="mod(5, 2) == 1")
def mod(value: int | float, modulus: int | float) -> int | float:
    """The remainder of ``value / modulus`` (sign of ``value``, as in Rust); a zero modulus fails."""
    if modulus == 0:
        raise ExprError("can't calculate remainder of zero")
    if type(value) is int and type(modulus) is int:
        rem = abs(value) % abs(modulus)
        return -rem if value < 0 else rem
    try:
        result = math.fmod(value, modulus)
    except ValueError:  # fmod(inf, x)
        raise ExprError("operation would produce NaN") from None
    if result != result:
        raise ExprError("operation would produce NaN")
    return result


@function(FUNCTIONS, "abs", Param("value", NUMBER), returns=NUMBER, example="abs(-42) == 42")
def abs_(value: int | float) -> int | float:
    """The absolute value of a number."""
    return abs(value)
