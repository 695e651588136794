"""The description of a remap function: what the compiler needs to resolve a call once.

A function is a :class:`FunctionSpec`: its parameters (names, accepted kinds,
defaults), whether it can fail whatever its arguments are, the kinds it
returns, and a plain Python implementation. The compiler binds positional and
named arguments to parameters, fills in defaults, inserts type checks only
where the argument's static kind is not known to fit, and refuses unhandled
fallible calls, all before the first record is processed.

Implementations receive the arguments positionally in parameter order, can
assume the declared kinds, raise :class:`~conduix.remap.values.ExprError` with
a message on failure, and never mutate their arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conduix.remap.regex import REGEX_TYPES
from conduix.remap.values import Kinds

if TYPE_CHECKING:
    from conduix.remap.typedefs import Type

__all__ = ["IDENTITY", "PYTHON_TYPES", "Checker", "FunctionSpec", "Param", "Typer", "function", "opt"]


def IDENTITY(value: Any) -> Any:
    """The result is the (type-checked) argument itself."""
    return value

PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (float,),
    "boolean": (bool,),
    "null": (type(None),),
    "timestamp": (datetime,),
    "regex": REGEX_TYPES,
    "array": (list,),
    "object": (dict,),
}


Typer = Callable[[list["Type"], list[Any]], "Type"]
"""``typer(arg_types, arg_consts) -> Type``, one entry per parameter (defaults filled in)."""

Checker = Callable[[list["Type"], list[Any]], "str | bool | None"]
"""``checker(arg_types, arg_consts)``: a message (compile error), ``True`` (the call can fail) or ``None``."""


@dataclass(frozen=True)
class Param:
    """One parameter; ``kinds=None`` accepts any value."""

    name: str
    kinds: Kinds = None
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[Param, ...]
    impl: Callable[..., Any]
    fallible: bool = False
    returns: Kinds = None
    closure: tuple[Kinds | Type, ...] | None = None
    """Kinds (or exact types) of the closure's parameters when the function takes a closure
    (``-> |a, b| {...}``). :data:`~conduix.remap.values.ITEM_OF_VALUE` means "an item of the first argument" (its
    type is inferred from the collection's), and ``string | integer`` a key (``string`` for objects,
    ``integer`` for arrays)."""
    path_arg: bool = False
    """The first argument is a path (``del(.x)``, ``exists(.x)``), passed unevaluated."""
    fresh: bool = True
    """The returned containers share nothing with the arguments (no copy needed on assignment)."""
    summary: str = ""
    example: str = ""
    fallible_unless: Kinds = None
    """When set, the call can fail unless the first argument's static kinds are within these."""
    fast: Callable[[tuple[Any, ...]], Callable[[Any], Any] | None] | None = None
    """Given the constant values of the other arguments, a one-argument implementation (or None).
    It may return :data:`IDENTITY` when the checked argument is the result (``int!(.x)``)."""
    fast_raises: tuple[tuple[type[BaseException], ...], str | Callable[[BaseException], str]] = ((), "")
    """Library exceptions the ``fast`` implementation raises, and the message prefix (or a function of the
    exception giving the message) that turns them into remap errors at the call site (so a library call like
    ``orjson.loads`` needs no Python wrapper)."""
    typer: Typer | None = None
    """The precise type of the result from the arguments' static types and constant values (``NOT_CONST``
    where an argument is not a literal), e.g. ``flatten`` of an object is an object. Without it, the
    result's type is ``returns`` with unknown contents."""
    closure_returns: Kinds = None
    """What the closure must return (``filter``: boolean); a closure that can return nothing else is refused."""
    checker: Checker | None = None
    """Looks at a call when compiling, from the arguments' types and constant values: returns a message when
    the call can never work (a compile error, VRL's "invalid argument": ``chunks(s, 0)``), ``True`` when this
    call can fail although the function usually cannot (an algorithm known only at run time), else ``None``."""
    returns_argument: bool = False
    """The result is the first argument itself (``object!(x)``): it shares what that argument shares."""
    effects: bool = False
    """A call does something besides returning its value (``log`` writes a log line, ``del`` removes a
    field). The batch loops read fields optimistically only before a program's first effect
    (:func:`conduix.remap.ownership.effect_free`); a function with effects must say so here."""

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


def opt(name: str, kinds: Kinds = None, default: Any = None) -> Param:
    """An optional parameter."""
    return Param(name, kinds, required=False, default=default)


def function(table: list[FunctionSpec], name: str, *params: Param, fallible: bool = False,
             returns: Kinds = None, closure: tuple[Kinds | Type, ...] | None = None, path_arg: bool = False,
             fresh: bool = True, summary: str = "", example: str = "", fallible_unless: Kinds = None,
             fast: Callable[[tuple[Any, ...]], Callable[[Any], Any] | None] | None = None,
             fast_raises: tuple[tuple[type[BaseException], ...], str | Callable[[BaseException], str]] = ((), ""),
             typer: Typer | None = None, closure_returns: Kinds = None,
             checker: Checker | None = None, returns_argument: bool = False,
             effects: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: describe ``impl`` as the remap function ``name`` and append it to ``table``."""

    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        table.append(FunctionSpec(name, tuple(params), impl, fallible, returns, closure, path_arg, fresh,
                                  summary or (impl.__doc__ or "").strip().split("\n")[0], example,
                                  fallible_unless, fast, fast_raises, typer, closure_returns, checker,
                                  returns_argument, effects))
        return impl

    return register
