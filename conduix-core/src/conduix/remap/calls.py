"""Closures for resolved function calls, specialised for the shapes that dominate real programs.

Most calls have one dynamic argument (often a top-level event field, as in
``upcase!(.level)``) and constants or defaults for the rest. Those get a
closure that reads the field inline, checks its type inline and calls the
implementation directly; everything else goes through a general closure.
An error raised by the implementation is given the function name and the
call's position on its way out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conduix.remap.functions.spec import IDENTITY, FunctionSpec
from conduix.remap.nodes import Segment
from conduix.remap.values import ExprError, kind_of

__all__ = ["PathRef", "call_closure", "path_call"]

Fn = Callable[[list[Any]], Any]
Check = tuple[int, tuple[type, ...], str]


class PathRef:
    """A path argument (``del(.x)``, ``exists(.x)``) resolved at compile time."""

    __slots__ = ("base", "name", "segments", "slot")

    def __init__(self, slot: int, name: str | None, segments: tuple[Segment, ...], base: Fn | None = None) -> None:
        self.slot = slot  # 0: event, 1: metadata, 2: variables, 3: the value of ``base`` (exists only)
        self.name = name
        self.segments = segments
        self.base = base


def path_call(name: str, ref: PathRef, consts: list[Any], is_const: list[bool]) -> Fn | None:
    """Inline ``del(.field)`` and ``exists(.field)`` for a top-level event or metadata field."""
    if ref.slot >= 2 or len(ref.segments) != 1 or type(ref.segments[0]) is not str:
        return None
    field = ref.segments[0]
    slot = ref.slot
    if name == "del" and is_const and is_const[0] and consts[0] is False:
        return lambda c: c[slot].pop(field, None)
    if name == "exists":
        return lambda c: field in c[slot]
    return None


def _type_error(text: str, value: Any, name: str, line: int, column: int) -> ExprError:
    exc = ExprError(f"expected {text}, got {kind_of(value)}", line, column)
    exc.function = name
    return exc


def call_closure(spec: FunctionSpec, fns: list[Fn], consts: list[Any], is_const: list[bool],
                 checks: list[Check], prefix: list[Any], field: str | None, line: int, column: int,
                 store: str | None = None) -> tuple[Fn, bool]:
    """The closure of one resolved call, and whether it also stores the result.

    With ``store`` (an event field name, or ``""`` for the root) the closure may
    assign its result itself, saving the assignment closure on the hottest shape,
    ``.x = f!(.y)``; the second item says whether it did.
    """
    impl = spec.impl
    name = spec.name

    def locate(exc: ExprError) -> None:
        if exc.line is None:
            exc.function = name
            exc.line = line
            exc.column = column

    if prefix:
        return _special(spec, fns, checks, prefix, locate, line, column), False
    if fns and all(is_const[1:]) and all(index == 0 for index, _, _ in checks):
        rest = tuple(consts[1:])
        check = checks[0] if checks else None
        fast = spec.fast(rest) if spec.fast is not None else None
        if fast is IDENTITY and check is not None:
            return _checked_identity(name, fns[0], check, field, line, column), False
        foreign, error_prefix = spec.fast_raises
        if fast is not None and fast is not IDENTITY:
            if store is not None and check is not None:
                return _checked_store(fast, name, fns[0], check, field, store, locate, line, column,
                                      foreign, error_prefix), True
            impl, rest = (_translating(fast, foreign, error_prefix) if foreign else fast), ()
        if store is not None and check is not None and not rest:
            return _checked_store(impl, name, fns[0], check, field, store, locate, line, column), True
        return _one_dynamic(impl, name, fns[0], rest, check, field, locate, line, column), False

    def call(c: list[Any]) -> Any:
        args = [f(c) for f in fns]
        for index, types, text in checks:
            if type(args[index]) not in types:
                raise _type_error(text, args[index], name, line, column)
        try:
            return impl(*args)
        except ExprError as exc:
            locate(exc)
            raise
    if not fns:
        def call0(c: list[Any]) -> Any:
            return impl()
        return call0, False
    return call, False


def _checked_identity(name: str, a0: Fn, check: Check, field: str | None, line: int, column: int) -> Fn:
    types, text = check[1], check[2]
    if field is not None:
        def field_identity(c: list[Any]) -> Any:
            v = c[0].get(field)
            if type(v) in types:
                return v
            raise _type_error(text, v, name, line, column)
        return field_identity

    def identity(c: list[Any]) -> Any:
        v = a0(c)
        if type(v) in types:
            return v
        raise _type_error(text, v, name, line, column)
    return identity


def _translating(impl: Callable[[Any], Any], foreign: tuple[type[BaseException], ...],
                 prefix: str) -> Callable[[Any], Any]:
    def translated(value: Any) -> Any:
        try:
            return impl(value)
        except foreign as exc:
            raise ExprError(f"{prefix}{exc}") from None
    return translated


def _checked_store(impl: Callable[..., Any], name: str, a0: Fn, check: Check, field: str | None, store: str,
                   locate: Callable[[ExprError], None], line: int, column: int,
                   foreign: tuple[type[BaseException], ...] = (), prefix: str = "") -> Fn:
    """``.store = impl(checked argument)`` (``. = ...`` when ``store`` is empty) in one closure.

    ``foreign`` exceptions raised by ``impl`` become remap errors with ``prefix``.
    """
    types, text = check[1], check[2]

    def foreign_error(exc: BaseException) -> ExprError:
        error = ExprError(f"{prefix}{exc}")
        locate(error)
        return error

    if store:
        def field_to_field(c: list[Any]) -> Any:
            v = c[0].get(field) if field is not None else a0(c)
            if type(v) in types:
                try:
                    result = impl(v)
                except ExprError as exc:
                    locate(exc)
                    raise
                except foreign as exc:
                    raise foreign_error(exc) from None
                c[0][store] = result
                return result
            raise _type_error(text, v, name, line, column)
        return field_to_field

    def field_to_root(c: list[Any]) -> Any:
        v = c[0].get(field) if field is not None else a0(c)
        if type(v) in types:
            try:
                result = impl(v)
            except ExprError as exc:
                locate(exc)
                raise
            except foreign as exc:
                raise foreign_error(exc) from None
            if type(result) is not dict:
                raise ExprError(f"the event root must be an object, got {kind_of(result)}", line, column)
            c[0] = result
            return result
        raise _type_error(text, v, name, line, column)
    return field_to_root


def _one_dynamic(impl: Callable[..., Any], name: str, a0: Fn, rest: tuple[Any, ...], check: Check | None,
                 field: str | None, locate: Callable[[ExprError], None], line: int, column: int) -> Fn:
    if check is not None:
        types, text = check[1], check[2]
        if field is not None:
            if not rest:
                def field_checked(c: list[Any]) -> Any:
                    v = c[0].get(field)
                    if type(v) in types:
                        try:
                            return impl(v)
                        except ExprError as exc:
                            locate(exc)
                            raise
                    raise _type_error(text, v, name, line, column)
                return field_checked

            def field_checked_rest(c: list[Any]) -> Any:
                v = c[0].get(field)
                if type(v) in types:
                    try:
                        return impl(v, *rest)
                    except ExprError as exc:
                        locate(exc)
                        raise
                raise _type_error(text, v, name, line, column)
            return field_checked_rest

        def checked(c: list[Any]) -> Any:
            v = a0(c)
            if type(v) in types:
                try:
                    return impl(v, *rest)
                except ExprError as exc:
                    locate(exc)
                    raise
            raise _type_error(text, v, name, line, column)
        return checked

    if field is not None:
        def field_plain(c: list[Any]) -> Any:
            try:
                return impl(c[0].get(field), *rest)
            except ExprError as exc:
                locate(exc)
                raise
        return field_plain

    if not rest:
        def plain1(c: list[Any]) -> Any:
            try:
                return impl(a0(c))
            except ExprError as exc:
                locate(exc)
                raise
        return plain1

    def plain(c: list[Any]) -> Any:
        try:
            return impl(a0(c), *rest)
        except ExprError as exc:
            locate(exc)
            raise
    return plain


def _special(spec: FunctionSpec, fns: list[Fn], checks: list[Check], prefix: list[Any],
             locate: Callable[[ExprError], None], line: int, column: int) -> Fn:
    """Calls that take a path (``del``, ``exists``) or a closure (``for_each``...)."""
    impl = spec.impl
    name = spec.name
    path_ref = prefix[0] if spec.path_arg else None
    closure_bind = prefix[-1] if spec.closure is not None else None

    def special(c: list[Any]) -> Any:
        args = [f(c) for f in fns]
        for index, types, text in checks:
            if type(args[index]) not in types:
                raise _type_error(text, args[index], name, line, column)
        try:
            if path_ref is not None:
                return impl(c, path_ref, *args)
            assert closure_bind is not None
            return impl(closure_bind(c), *args)
        except ExprError as exc:
            locate(exc)
            raise
    return special
