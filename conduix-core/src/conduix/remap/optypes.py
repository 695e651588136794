"""The static type and fallibility of an operator expression, following VRL's rules (``op.rs``).

``binary_type`` says what ``left op right`` gives, whether it can fail
(``0``, ``CHECKED``: only for kinds not known when compiling, ``MUST``: a
constant operation that always fails, as ``1 / 0``), or why it cannot work
at all (``{} | 1``).
"""

from __future__ import annotations

from typing import Any

from conduix.remap.typedefs import BOOLEAN, NOT_CONST, Type, merged, of_kinds, union
from conduix.remap.values import ExprError

__all__ = ["CHECKED", "MUST", "binary_type", "is_comparison"]

CHECKED = 1
MUST = 2

_NUMBER = frozenset({"integer", "float"})
_STRING_OR_NULL = frozenset({"string", "null"})
_BOOL_OR_NULL = frozenset({"boolean", "null"})
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def is_comparison(op: str) -> bool:
    return op in _COMPARISONS


def _kinds(*names: str) -> Type:
    return of_kinds(frozenset(names))


def binary_type(op: str, left: Type, right: Type, lconst: Any = NOT_CONST,
                rconst: Any = NOT_CONST) -> tuple[Type, int, str | None]:
    """``(result type, fallibility, problem)`` of ``left op right``; a problem is a compile error."""
    lk, rk = left.kinds, right.kinds
    if not lk or not rk:  # a side never gives a value (abort, return)
        return of_kinds(frozenset()), 0, None
    if op in ("==", "!="):
        return BOOLEAN, 0, None
    if op in ("<", "<=", ">", ">="):
        if (lk == rk == {"string"}) or (lk == rk == {"timestamp"}) or (lk <= _NUMBER and rk <= _NUMBER):
            return BOOLEAN, 0, None
        return BOOLEAN, CHECKED, None
    if op == "||":
        if lk == {"null"} or lconst is False:
            return right, 0, None
        if not lk & _BOOL_OR_NULL or lconst is True:
            return left, 0, None
        return union(left.without("null"), right), 0, None
    if op == "&&":
        return BOOLEAN, 0 if lk <= _BOOL_OR_NULL and rk <= _BOOL_OR_NULL else CHECKED, None
    if op == "|":
        if "object" not in lk or "object" not in rk:
            return _kinds("object"), 0, (f"only objects can be merged: can't merge type {right.text()} into "
                                         f"{left.text()}")
        return merged(left, right), 0 if lk == rk == {"object"} else CHECKED, None
    return _arithmetic(op, left, right, lconst, rconst)


def _arithmetic(op: str, left: Type, right: Type, lconst: Any, rconst: Any) -> tuple[Type, int, str | None]:
    lk, rk = left.kinds, right.kinds
    always_fails = _constant_failure(op, lconst, rconst)
    fall_if = (lambda ok: MUST if always_fails else (0 if ok else CHECKED))  # noqa: E731
    if op == "/":
        nonzero = type(rconst) in (int, float) and rconst != 0 and rconst == rconst
        return _kinds("float"), fall_if((lk == {"integer"} or lk == {"float"}) and nonzero and rk <= _NUMBER), None
    if op == "%":
        nonzero = type(rconst) in (int, float) and rconst != 0
        kind = "integer" if lk == rk == {"integer"} else "float" if lk <= _NUMBER and rk <= _NUMBER else None
        result = _kinds(kind) if kind else _kinds("integer", "float")
        return result, fall_if(kind is not None and nonzero), None
    if op == "+" and (lk == {"string"} or rk == {"string"}):
        return _kinds("string"), fall_if(lk <= _STRING_OR_NULL and rk <= _STRING_OR_NULL), None
    if lk == {"float"} or rk == {"float"}:
        return _kinds("float"), fall_if(lk <= _NUMBER and rk <= _NUMBER), None
    if lk == rk == {"integer"}:
        return _kinds("integer"), fall_if(True), None
    if op == "*" and ((lk == {"string"} and rk == {"integer"}) or (lk == {"integer"} and rk == {"string"})):
        return _kinds("string"), fall_if(True), None
    if op == "-":
        return _kinds("integer", "float"), fall_if(False), None
    return _kinds("string", "integer", "float"), fall_if(False), None


def _constant_failure(op: str, lconst: Any, rconst: Any) -> bool:
    """Whether an operation on constants always fails (divides by zero, gives NaN)."""
    if rconst is NOT_CONST:
        return False
    if op in "/%" and type(rconst) in (int, float) and rconst == 0:
        return True
    if lconst is NOT_CONST or type(lconst) not in (int, float) or type(rconst) not in (int, float):
        return False
    from conduix.remap.operators import _arith

    try:
        _arith(op, lconst, rconst, 0, 0)
    except ExprError:
        return True
    return False
