"""Closures for resolved function calls, specialised for the shapes that dominate real programs.

Most calls have one dynamic argument (often a top-level event field, as in
``upcase!(.level)``) and constants or defaults for the rest. Those get a
closure that reads the field inline, checks its type inline (only when the
compiler could not prove it) and calls the implementation directly;
everything else goes through a general closure. An error raised by the
implementation is given the function name and the call's position and span
on its way out (``function call error for "upcase" at (10:24): ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conduix.remap.functions.spec import IDENTITY, FunctionSpec
from conduix.remap.nodes import Segment
from conduix.remap.paths import clone
from conduix.remap.values import ExprError, Returned, kind_of

__all__ = ["ClosureRef", "PathRef", "Site", "call_closure", "path_call"]

Fn = Callable[[list[Any]], Any]
Check = tuple[int, tuple[type, ...], str]
_CONTAINERS = (dict, list)
_MISSING = object()


Wording = str | Callable[[BaseException], str]


def _worded(wording: Wording, exc: BaseException) -> str:
    return wording(exc) if callable(wording) else f"{wording}{exc}"


class Site:
    """Where a call is: for error messages (VRL's span) and positions."""

    __slots__ = ("column", "line", "name", "span")

    def __init__(self, name: str, line: int, column: int, span: str | None) -> None:
        self.name = name
        self.line = line
        self.column = column
        self.span = span

    def locate(self, exc: ExprError) -> None:
        if exc.line is None:
            exc.function = self.name
            exc.line = self.line
            exc.column = self.column
            exc.span = self.span

    def type_error(self, text: str, value: Any) -> ExprError:
        exc = ExprError(f"expected {text}, got {kind_of(value)}", self.line, self.column)
        exc.function = self.name
        exc.span = self.span
        return exc

    def foreign(self, exc: BaseException, wording: Wording) -> ExprError:
        """A library's exception (``orjson.JSONDecodeError``) as this call's remap error."""
        error = ExprError(_worded(wording, exc))
        self.locate(error)
        return error


class PathRef:
    """A path argument (``del(.x)``, ``exists(.x)``) resolved at compile time."""

    __slots__ = ("base", "name", "segments", "slot")

    def __init__(self, slot: int, name: str | None, segments: tuple[Segment, ...], base: Fn | None = None) -> None:
        self.slot = slot  # 0: event, 1: metadata, 2: variables, 3: the value of ``base`` (read only)
        self.name = name
        self.segments = segments
        self.base = base


class ClosureRef:
    """A compiled closure (``-> |k, v| { ... }``): its parameter names and body."""

    __slots__ = ("body", "copy", "names", "returns")

    def __init__(self, names: list[str | None], body: Fn, returns: bool, copy: bool) -> None:
        self.names = names
        self.body = body
        self.returns = returns  # the body has a ``return``
        self.copy = copy  # the body may change a parameter in place: give it copies of the items


def path_call(name: str, ref: PathRef, consts: list[Any], is_const: list[bool]) -> Fn | None:
    """Inline ``del(.field)`` and ``exists(.field)`` for a top-level event or metadata field."""
    if ref.slot >= 2 or len(ref.segments) != 1 or type(ref.segments[0]) is not str:
        return None
    field = ref.segments[0]
    slot = ref.slot
    if name == "del" and is_const and is_const[0] and consts[0] is False:
        return lambda c: c[slot].pop(field, None) if type(c[slot]) is dict else None
    if name == "exists":
        return lambda c: type(c[slot]) is dict and field in c[slot]
    return None


def call_closure(spec: FunctionSpec, fns: list[Fn], consts: list[Any], is_const: list[bool],
                 checks: list[Check], prefix: list[Any], field: str | None, site: Site,
                 store: str | None = None) -> tuple[Fn, bool]:
    """The closure of one resolved call, and whether it also stores the result.

    With ``store`` (an event field name) the closure may assign its result
    itself, saving the assignment closure on the hottest shape,
    ``.x = f!(.y)``; the second item says whether it did.
    """
    impl = spec.impl
    if prefix:
        return _special(spec, fns, checks, prefix, site), False
    if fns and all(is_const[1:]) and all(index == 0 for index, _, _ in checks):
        rest = tuple(consts[1:])
        check = checks[0] if checks else None
        fast = spec.fast(rest) if spec.fast is not None else None
        if fast is IDENTITY:
            return (fns[0] if check is None else _checked_identity(site, fns[0], check, field)), False
        foreign, error_prefix = spec.fast_raises
        if fast is not None:
            if store is not None:
                return _stored(fast, site, fns[0], check, field, store, foreign, error_prefix), True
            impl, rest = (_translating(fast, foreign, error_prefix) if foreign else fast), ()
        if store is not None and not rest:
            return _stored(impl, site, fns[0], check, field, store), True
        return _one_dynamic(impl, site, fns[0], rest, check, field), False

    def call(c: list[Any]) -> Any:
        args = [f(c) for f in fns]
        for index, types, text in checks:
            if type(args[index]) not in types:
                raise site.type_error(text, args[index])
        try:
            return impl(*args)
        except ExprError as exc:
            site.locate(exc)
            raise
    if not fns:
        def call0(c: list[Any]) -> Any:
            return impl()
        return call0, False
    return call, False


def _checked_identity(site: Site, a0: Fn, check: Check, field: str | None) -> Fn:
    types, text = check[1], check[2]
    if field is not None:
        def field_identity(c: list[Any]) -> Any:
            v = c[0].get(field)
            if type(v) in types:
                return v
            raise site.type_error(text, v)
        return field_identity

    def identity(c: list[Any]) -> Any:
        v = a0(c)
        if type(v) in types:
            return v
        raise site.type_error(text, v)
    return identity


def _translating(impl: Callable[[Any], Any], foreign: tuple[type[BaseException], ...],
                 wording: Wording) -> Callable[[Any], Any]:
    def translated(value: Any) -> Any:
        try:
            return impl(value)
        except foreign as exc:
            raise ExprError(_worded(wording, exc)) from None
    return translated


def _stored(impl: Callable[..., Any], site: Site, a0: Fn, check: Check | None, field: str | None, store: str,
            foreign: tuple[type[BaseException], ...] = (), wording: Wording = "") -> Fn:
    """``.store = impl(argument)`` in one closure (the argument checked when ``check`` is given).

    ``foreign`` exceptions raised by ``impl`` become remap errors worded by ``wording``.
    """
    types, text = (check[1], check[2]) if check is not None else ((), "")

    if not store:
        def to_root(c: list[Any]) -> Any:
            v = c[0].get(field) if field is not None else a0(c)
            if check is not None and type(v) not in types:
                raise site.type_error(text, v)
            try:
                result = impl(v)
            except ExprError as exc:
                site.locate(exc)
                raise
            except foreign as exc:
                raise site.foreign(exc, wording) from None
            c[0] = result
            return result
        return to_root

    def field_to_field(c: list[Any]) -> Any:
        v = c[0].get(field) if field is not None else a0(c)
        if check is not None and type(v) not in types:
            raise site.type_error(text, v)
        try:
            result = impl(v)
        except ExprError as exc:
            site.locate(exc)
            raise
        except foreign as exc:
            raise site.foreign(exc, wording) from None
        event = c[0]
        if type(event) is dict:
            event[store] = result
        else:  # the root was set to something else than an object: a field write makes it one
            c[0] = {store: result}
        return result
    return field_to_field


def _one_dynamic(impl: Callable[..., Any], site: Site, a0: Fn, rest: tuple[Any, ...], check: Check | None,
                 field: str | None) -> Fn:
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
                            site.locate(exc)
                            raise
                    raise site.type_error(text, v)
                return field_checked

            def field_checked_rest(c: list[Any]) -> Any:
                v = c[0].get(field)
                if type(v) in types:
                    try:
                        return impl(v, *rest)
                    except ExprError as exc:
                        site.locate(exc)
                        raise
                raise site.type_error(text, v)
            return field_checked_rest

        def checked(c: list[Any]) -> Any:
            v = a0(c)
            if type(v) in types:
                try:
                    return impl(v, *rest)
                except ExprError as exc:
                    site.locate(exc)
                    raise
            raise site.type_error(text, v)
        return checked

    if field is not None:
        def field_plain(c: list[Any]) -> Any:
            try:
                return impl(c[0].get(field), *rest)
            except ExprError as exc:
                site.locate(exc)
                raise
        return field_plain

    if not rest:
        def plain1(c: list[Any]) -> Any:
            try:
                return impl(a0(c))
            except ExprError as exc:
                site.locate(exc)
                raise
        return plain1

    def plain(c: list[Any]) -> Any:
        try:
            return impl(a0(c), *rest)
        except ExprError as exc:
            site.locate(exc)
            raise
    return plain


def _runner(ref: ClosureRef, c: list[Any]) -> Callable[..., Any]:
    """The Python callable a closure function receives: binds the parameters, runs the body."""
    variables = c[2]
    names = ref.names
    body = ref.body
    copy = ref.copy
    returns = ref.returns

    def run(*values: Any) -> Any:
        for name, value in zip(names, values):
            if name is not None:
                variables[name] = clone(value) if copy and type(value) in _CONTAINERS else value
        if returns:
            try:
                return body(c)
            except Returned as ret:
                return ret.value
        return body(c)
    return run


def _special(spec: FunctionSpec, fns: list[Fn], checks: list[Check], prefix: list[Any], site: Site) -> Fn:
    """Calls that take a path (``del``, ``exists``) or a closure (``for_each``...)."""
    impl = spec.impl
    path_ref = prefix[0] if spec.path_arg else None
    closure: ClosureRef | None = prefix[-1] if spec.closure is not None else None

    def special(c: list[Any]) -> Any:
        args = [f(c) for f in fns]
        for index, types, text in checks:
            if type(args[index]) not in types:
                raise site.type_error(text, args[index])
        try:
            if path_ref is not None:
                return impl(c, path_ref, *args)
            assert closure is not None
            variables = c[2]
            saved = [variables.get(name, _MISSING) for name in closure.names if name is not None]
            try:
                return impl(_runner(closure, c), *args)
            finally:  # the parameters were the closure's own: the variables they shadowed come back
                for name, old in zip([m for m in closure.names if m is not None], saved):
                    if old is _MISSING:
                        variables.pop(name, None)
                    else:
                        variables[name] = old
        except ExprError as exc:
            if closure is not None and exc.line is not None:  # raised inside the closure: VRL wraps it
                wrapped = ExprError(exc.full_message(), exc.line, exc.column)
                wrapped.function, wrapped.span = site.name, site.span
                raise wrapped from None
            site.locate(exc)
            raise
    return special
