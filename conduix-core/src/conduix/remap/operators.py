"""Closures for remap operators (``+ - * / %``, comparisons, ``&& || ! ??``, ``|``).

Each builder takes the compiled operand closures and the operator's position
and returns one closure. The common cases (numbers, strings) are tested first
inline; anything else goes through a slower general path that raises
:class:`ExprError` for incompatible kinds, as VRL does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from conduix.remap.values import ExprError, Kinds, compare, kind_of, kinds, values_equal

__all__ = ["binary", "binary_kinds", "unary"]

Fn = Callable[[list[Any]], Any]
_NUM = (int, float)


def _err(message: str, line: int, column: int) -> ExprError:
    return ExprError(message, line, column)


def _arith(op: str, a: Any, b: Any, line: int, column: int) -> Any:
    ta, tb = type(a), type(b)
    if ta in _NUM and tb in _NUM:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise _err("can't divide by zero", line, column)
            return a / b
        if b == 0:
            raise _err("can't calculate remainder of zero", line, column)
        if ta is int and tb is int:
            rem = abs(a) % abs(b)
            return -rem if a < 0 else rem
        return math.fmod(a, b)
    if op == "+" and ta is str and tb is str:
        return a + b
    if op == "*" and ta is str and tb is int:
        return a * max(b, 0)
    if op == "-" and ta is datetime and tb is datetime:
        raise _err("can't subtract timestamps", line, column)
    verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "calculate remainder of"}[op]
    raise _err(f"can't {verb} type {kind_of(b)} {'to' if op == '+' else 'by' if op in '*/%' else 'from'} "
               f"{kind_of(a)}", line, column)


def binary(op: str, left: Fn, right: Fn, line: int, column: int, right_const: Any = None,
           right_is_const: bool = False) -> Fn:
    """The closure for ``left op right``."""
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
                raise _err(f"can't apply an AND to {kind_of(a)}", line, column)
            b = right(c)
            if b is None:
                return False
            if type(b) is not bool:
                raise _err(f"can't apply an AND to {kind_of(b)}", line, column)
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
        return _comparison(op, left, right, line, column, right_const, right_is_const)

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
            if ta is type(b) and (ta is int or ta is str or ta is float):
                return a + b
            return _arith("+", a, b, line, column)
        return add

    def arith(c: list[Any]) -> Any:
        return _arith(op, left(c), right(c), line, column)
    return arith


def _comparison(op: str, left: Fn, right: Fn, line: int, column: int, const: Any, is_const: bool) -> Fn:
    def slow(a: Any, b: Any) -> bool:
        try:
            return compare(op, a, b)
        except ExprError as exc:
            exc.line, exc.column = line, column
            raise

    if is_const and type(const) in _NUM:
        k = const
        if op == "<":
            def lt_k(c: list[Any]) -> bool:
                a = left(c)
                if type(a) is int or type(a) is float:
                    return a < k
                return slow(a, k)
            return lt_k
        if op == ">":
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
        if type(v) not in _NUM:
            raise _err(f"can't negate type {kind_of(v)}", line, column)
        return -v
    return neg


_BOOL = kinds("boolean")


def binary_kinds(op: str, left: Kinds, right: Kinds) -> Kinds:
    """The static kinds of ``left op right`` (``None``: unknown)."""
    if op in ("==", "!=", "<", "<=", ">", ">=", "&&"):
        return _BOOL
    if op in ("??", "||"):
        return None if left is None or right is None else left | right
    if op == "|":
        return kinds("object")
    if left is not None and right is not None and len(left) == 1 and left == right:
        kind = next(iter(left))
        if op == "/" and kind in ("integer", "float"):
            return kinds("float")
        if kind in ("integer", "float") or (kind == "string" and op == "+"):
            return left
    if op == "/":
        return kinds("float")
    return None
