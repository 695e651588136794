"""Closures for remap operators (``+ - * / %``, comparisons, ``&& || ! ??``, ``|``), as VRL computes them.

Integers are 64-bit and wrap around (``9223372036854775807 + 1`` is
``-9223372036854775808``), a float operation that would give NaN is an
error, ``+`` joins strings and treats ``null`` beside a string as ``""``, and
``*`` repeats a string. Each builder takes the compiled operands and the
operator's position; when the compiler knows both operands' kinds it asks for
the unchecked closure (``checked=False``), otherwise the common cases are
tested first inline and the rest raise VRL's error for the kinds at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from conduix.remap.values import ExprError, compare, kind_of, values_equal

__all__ = ["arith_error", "binary", "unary", "wrap_int"]

Fn = Callable[[list[Any]], Any]
_NUM = (int, float)
_LIMIT = 2**63
_SPAN = 2**64


def wrap_int(value: int) -> int:
    """``value`` as a 64-bit signed integer (two's complement wrap-around, as Rust's ``wrapping_*``)."""
    if -_LIMIT <= value < _LIMIT:
        return value
    return (value + _LIMIT) % _SPAN - _LIMIT


def _err(message: str, line: int, column: int) -> ExprError:
    return ExprError(message, line, column)


_NAN = "operation would produce NaN"


def arith_error(op: str, a: Any, b: Any) -> str:
    """VRL's message for ``a op b`` on kinds the operator does not take."""
    ka, kb = kind_of(a), kind_of(b)
    if op == "+":
        return f"can't add type {kb} to {ka}"
    if op == "-":
        return f"can't subtract type {kb} from {ka}"
    if op == "*":
        return f"can't multiply type {ka} by {kb}"
    if op == "/":
        return f"can't divide type {ka} by {kb}"
    return f"can't calculate remainder of type {ka} and {kb}"


def _float(value: float, line: int, column: int) -> float:
    if value != value:
        raise _err(_NAN, line, column)
    return value


def _arith(op: str, a: Any, b: Any, line: int, column: int) -> Any:
    ta, tb = type(a), type(b)
    if ta in _NUM and tb in _NUM:
        if op in "/%" and b == 0:
            raise _err("can't divide by zero", line, column)
        if ta is int and tb is int:
            if op == "+":
                return wrap_int(a + b)
            if op == "-":
                return wrap_int(a - b)
            if op == "*":
                return wrap_int(a * b)
            if op == "/":
                return a / b
            rem = abs(a) % abs(b)  # Rust's remainder keeps the sign of the dividend
            return wrap_int(-rem if a < 0 else rem)
        fa, fb = float(a), float(b)
        try:
            if op == "+":
                return _float(fa + fb, line, column)
            if op == "-":
                return _float(fa - fb, line, column)
            if op == "*":
                return _float(fa * fb, line, column)
            if op == "/":
                return _float(fa / fb, line, column)
            return _float(math.fmod(fa, fb), line, column)
        except (ValueError, OverflowError):  # fmod(inf, x)
            raise _err(_NAN, line, column) from None
    if op == "+":
        if ta is str and (tb is str or b is None):
            return a + (b or "")
        if a is None and tb is str:
            return b
    if op == "*":
        if ta is str and tb is int:
            return a * max(b, 0)
        if ta is int and tb is str:
            return b * max(a, 0)
    if op in "/%" and tb in _NUM and b == 0:
        raise _err("can't divide by zero", line, column)
    raise _err(arith_error(op, a, b), line, column)


def binary(op: str, left: Fn, right: Fn, line: int, column: int, right_const: Any = None,
           right_is_const: bool = False, checked: bool = True) -> Fn:
    """The closure for ``left op right``; ``checked=False`` when the operands' kinds are known to fit."""
    if op == "??":
        def coalesce(c: list[Any]) -> Any:
            try:
                return left(c)
            except ExprError:
                return right(c)
        return coalesce

    if op == "||":
        def or_(c: list[Any]) -> Any:
            a = left(c)
            if a is None or a is False:
                return right(c)
            return a
        return or_

    if op == "&&":
        def and_(c: list[Any]) -> Any:
            a = left(c)
            if a is None or a is False:
                return False
            if a is not True:
                raise _err(f"can't apply an AND to types {kind_of(a)} and {kind_of(right(c))}", line, column)
            b = right(c)
            if b is None:
                return False
            if type(b) is not bool:
                raise _err(f"can't apply an AND to types {kind_of(a)} and {kind_of(b)}", line, column)
            return b
        return and_

    if op == "==":
        def eq(c: list[Any]) -> bool:
            return values_equal(left(c), right(c))
        return eq

    if op == "!=":
        def ne(c: list[Any]) -> bool:
            return not values_equal(left(c), right(c))
        return ne

    if op in ("<", "<=", ">", ">="):
        return _comparison(op, left, right, line, column, right_const, right_is_const, checked)

    if op == "|":
        def merge(c: list[Any]) -> Any:
            a = left(c)
            b = right(c)
            if type(a) is not dict or type(b) is not dict:
                raise _err(f"can't merge type {kind_of(b)} into {kind_of(a)}", line, column)
            out = dict(a)
            out.update(b)
            return out
        return merge

    if op == "+":
        def add(c: list[Any]) -> Any:
            a = left(c)
            b = right(c)
            ta = type(a)
            if ta is type(b):
                if ta is str:
                    return a + b
                if ta is int:
                    r = a + b
                    if -_LIMIT <= r < _LIMIT:
                        return r
            return _arith("+", a, b, line, column)
        return add

    def arith(c: list[Any]) -> Any:
        return _arith(op, left(c), right(c), line, column)
    return arith


def _comparison(op: str, left: Fn, right: Fn, line: int, column: int, const: Any, is_const: bool,
                checked: bool) -> Fn:
    def slow(a: Any, b: Any) -> bool:
        try:
            return compare(op, a, b)
        except ExprError as exc:
            exc.line, exc.column = line, column
            raise

    if is_const and type(const) in _NUM:
        k = const
        if op == "<":
            if not checked:
                return lambda c: left(c) < k

            def lt_k(c: list[Any]) -> bool:
                a = left(c)
                if type(a) is int or type(a) is float:
                    return a < k
                return slow(a, k)
            return lt_k
        if op == ">":
            if not checked:
                return lambda c: left(c) > k

            def gt_k(c: list[Any]) -> bool:
                a = left(c)
                if type(a) is int or type(a) is float:
                    return a > k
                return slow(a, k)
            return gt_k

    def cmp(c: list[Any]) -> bool:
        return slow(left(c), right(c))
    return cmp


def unary(op: str, operand: Fn, line: int, column: int) -> Fn:
    if op == "!":
        def not_(c: list[Any]) -> bool:
            v = operand(c)
            if type(v) is not bool:
                raise _err(f"can't negate type {kind_of(v)}", line, column)
            return not v
        return not_

    def neg(c: list[Any]) -> Any:
        v = operand(c)
        if type(v) is int:
            return wrap_int(-v)
        if type(v) is not float:
            raise _err(f"can't negate type {kind_of(v)}", line, column)
        return -v
    return neg
