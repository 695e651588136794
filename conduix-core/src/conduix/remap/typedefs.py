"""Static types: what the compiler knows of a value before the program runs, as VRL's type system.

A :class:`Type` is the set of kinds a value may have and, for objects and
arrays, what is known of their contents: the types of known fields (or
indexes) and the type of any other field (``rest``; ``None`` when the
container is known to hold nothing else, as an object literal). Reading a
field that a closed object does not have gives ``null``, as at run time.

Types are immutable. The compiler derives them from literals, assignments,
function results and operators, joins them where branches meet, and uses them
to accept calls VRL accepts (``.a = "x"; upcase(.a)``), to refuse programs
that cannot work (``upcase(1)``, ``{} | 1``) and to leave out run-time checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conduix.remap.regex import REGEX_TYPES

__all__ = [
    "ALL_KINDS", "ANY", "BOOLEAN", "NEVER", "NOT_CONST", "NULL", "STRING", "Type", "array_of", "array_type",
    "containers_like", "merged", "object_of", "object_type", "of_kinds", "of_value", "union", "union_all",
]

ALL_KINDS = frozenset({"string", "integer", "float", "boolean", "null", "timestamp", "regex", "array", "object"})

_MAX_FIELDS = 512  # beyond this many known fields an object's type forgets which ones it has


class Type:
    """The kinds a value may have, and what is known inside its objects and arrays."""

    __slots__ = ("fields", "items", "items_rest", "kinds", "rest")

    kinds: frozenset[str]
    fields: Mapping[str, Type]
    rest: Type | None
    items: Mapping[int, Type]
    items_rest: Type | None

    def __init__(self, kinds: Iterable[str], fields: Mapping[str, Type] | None = None, rest: Type | None = None,
                 items: Mapping[int, Type] | None = None, items_rest: Type | None = None,
                 open_object: bool = True, open_array: bool = True) -> None:
        self.kinds = frozenset(kinds)
        self.fields = fields or {}
        self.items = items or {}
        # an object or array whose contents nothing is said about holds anything
        self.rest = rest if rest is not None or not open_object or fields is not None else ANY
        self.items_rest = items_rest if items_rest is not None or not open_array or items is not None else ANY
        if "object" not in self.kinds:
            self.fields, self.rest = {}, None
        if "array" not in self.kinds:
            self.items, self.items_rest = {}, None

    # -- questions ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Type({self.text()})"

    def text(self) -> str:
        return " or ".join(sorted(self.kinds)) or "nothing"

    def is_any(self) -> bool:
        return self.kinds == ALL_KINDS

    def within(self, kinds: frozenset[str] | None) -> bool:
        """Whether every value of this type has one of ``kinds`` (``None``: any kind)."""
        return kinds is None or self.kinds <= kinds

    def exactly(self, kind: str) -> bool:
        return self.kinds == frozenset((kind,))

    def can_be(self, kinds: Iterable[str]) -> bool:
        return not self.kinds.isdisjoint(kinds)

    # -- reading --------------------------------------------------------------------------------

    def field(self, name: str) -> Type:
        """The type of ``value.name``."""
        if not self.kinds:
            return NEVER
        parts: list[Type] = []
        if "object" in self.kinds:
            if name in self.fields:
                parts.append(self.fields[name])
            elif self.rest is not None:
                parts += [self.rest, NULL]
            else:
                parts.append(NULL)
        if self.kinds != _OBJECT_ONLY:
            parts.append(NULL)
        return union_all(parts)

    def index(self, index: int) -> Type:
        """The type of ``value[index]``."""
        if not self.kinds:
            return NEVER
        parts: list[Type] = []
        if "array" in self.kinds:
            size = self.closed_size()
            if size is not None and index < 0:
                index += size
                parts.append(self.items[index] if 0 <= index < size else NULL)
            elif index in self.items:
                parts.append(self.items[index])
            elif index < 0:
                parts += [*self.items.values(), NULL]
                if self.items_rest is not None:
                    parts.append(self.items_rest)
            elif self.items_rest is not None:
                parts += [self.items_rest, NULL]
            else:
                parts.append(NULL)
        if self.kinds != _ARRAY_ONLY:
            parts.append(NULL)
        return union_all(parts)

    def closed_size(self) -> int | None:
        """The length of an array type whose every index is known, else ``None``."""
        if self.items_rest is not None or self.kinds != _ARRAY_ONLY:
            return None
        size = len(self.items)
        return size if all(i in self.items for i in range(size)) else None

    def get(self, segments: Iterable[str | int]) -> Type:
        out = self
        for seg in segments:
            out = out.field(seg) if type(seg) is str else out.index(seg)  # type: ignore[arg-type]
        return out

    def element(self) -> Type:
        """The union of every value an object or array of this type may hold."""
        parts: list[Type] = [*self.fields.values(), *self.items.values()]
        if self.rest is not None:
            parts.append(self.rest)
        if self.items_rest is not None:
            parts.append(self.items_rest)
        return union_all(parts) if parts else NEVER

    # -- new types ------------------------------------------------------------------------------

    def set(self, segments: tuple[str | int, ...], value: Type) -> Type:
        """The type after storing a value of type ``value`` at ``segments`` (containers are created)."""
        if not segments:
            return value
        seg, rest = segments[0], segments[1:]
        if type(seg) is str:
            if "object" in self.kinds:
                fields = dict(self.fields)
                child = self.field(seg) if seg in fields or self.rest is not None else NULL
                fields[seg] = child.set(rest, value)
                return _object(fields, self.rest)
            return _object({seg: NULL.set(rest, value)}, None)
        index: int = seg  # type: ignore[assignment]
        size = self.closed_size() if "array" in self.kinds else 0
        if size is not None and (index >= 0 or index + size >= 0):
            items = dict(self.items) if "array" in self.kinds else {}
            position = index if index >= 0 else index + size
            for pad in range(size, position):
                items[pad] = NULL
            items[position] = (items.get(position) or NULL).set(rest, value)
            return _array(items, None)
        # a position that cannot be known: anything already there, the new value, or padding
        old = self.element() if "array" in self.kinds else NEVER
        return _array({}, union_all([old, NULL.set(rest, value), NULL]))

    def delete(self, segments: tuple[str | int, ...]) -> Type:
        """The type after deleting ``segments`` (deleting the root leaves an empty object)."""
        if not segments:
            return _object({}, None)
        seg, rest = segments[0], segments[1:]
        if type(seg) is str:
            if "object" not in self.kinds:
                return self
            fields = dict(self.fields)
            if not rest:
                fields.pop(seg, None)
            elif seg in fields:
                fields[seg] = fields[seg].delete(rest)
            return Type(self.kinds, fields, self.rest, self.items, self.items_rest, False, False)
        if "array" not in self.kinds:
            return self
        if rest and seg in self.items:
            items = dict(self.items)
            items[seg] = items[seg].delete(rest)  # type: ignore[index]
            return Type(self.kinds, self.fields, self.rest, items, self.items_rest, False, False)
        # removing an element shifts the others: only what the elements may be is still known
        return Type(self.kinds, self.fields, self.rest, {}, self.element(), False, False)

    def narrow(self, kinds: frozenset[str]) -> Type:
        """This type restricted to ``kinds`` (after ``is_string(x)`` is known to be true...)."""
        kept = self.kinds & kinds
        if kept == self.kinds:
            return self
        return Type(kept, self.fields, self.rest, self.items, self.items_rest, False, False)

    def without(self, kind: str) -> Type:
        return self.narrow(self.kinds - {kind})


def union(a: Type, b: Type) -> Type:
    """The type of a value that is of type ``a`` or of type ``b``."""
    if a is b or not b.kinds:
        return a
    if not a.kinds:
        return b
    if a.is_any() and a.rest is ANY and a.items_rest is ANY:
        return a
    kinds = a.kinds | b.kinds
    fields: dict[str, Type] = {}
    rest: Type | None = None
    if "object" in kinds:
        if "object" not in a.kinds or "object" not in b.kinds:
            one = a if "object" in a.kinds else b
            fields, rest = dict(one.fields), one.rest
        else:
            for name in {**a.fields, **b.fields}:
                fields[name] = union(_object_field(a, name), _object_field(b, name))
            rest = _union_opt(a.rest, b.rest)
            if len(fields) > _MAX_FIELDS:
                rest = union_all([*fields.values(), NULL] + ([rest] if rest else []))
                fields = {}
    items: dict[int, Type] = {}
    items_rest: Type | None = None
    if "array" in kinds:
        if "array" not in a.kinds or "array" not in b.kinds:
            one = a if "array" in a.kinds else b
            items, items_rest = dict(one.items), one.items_rest
        else:
            size_a, size_b = a.closed_size(), b.closed_size()
            if size_a is not None and size_a == size_b:
                items = {i: union(a.items[i], b.items[i]) for i in range(size_a)}
            else:
                items_rest = union_all([a.element(), b.element()])
    return Type(kinds, fields, rest, items, items_rest, False, False)


def _union_opt(a: Type | None, b: Type | None) -> Type | None:
    if a is None:
        return b
    if b is None:
        return a
    return union(a, b)


def _object_field(t: Type, name: str) -> Type:
    """The type of field ``name`` of the object part of ``t``."""
    if name in t.fields:
        return t.fields[name]
    return union(t.rest, NULL) if t.rest is not None else NULL


def union_all(types: Iterable[Type]) -> Type:
    out = NEVER
    for t in types:
        out = union(out, t)
    return out


def _object(fields: dict[str, Type], rest: Type | None) -> Type:
    return Type(_OBJECT_ONLY, fields, rest, None, None, False, False)


def _array(items: dict[int, Type], rest: Type | None) -> Type:
    return Type(_ARRAY_ONLY, None, None, items, rest, False, False)


def of_kinds(kinds: frozenset[str] | None) -> Type:
    """A type of the given kinds, containers of unknown contents (``None``: any kind)."""
    if kinds is None:
        return ANY
    cached = _BY_KINDS.get(kinds)
    if cached is None:
        cached = _BY_KINDS[kinds] = Type(kinds)
    return cached


def of_value(value: Any) -> Type:
    """The exact type of a constant (a literal), containers included."""
    t = type(value)
    if t is dict:
        return _object({k: of_value(v) for k, v in value.items()}, None)
    if t is list:
        return _array({i: of_value(v) for i, v in enumerate(value)}, None)
    if t in REGEX_TYPES:
        return of_kinds(frozenset({"regex"}))
    from conduix.remap.values import kind_of

    return of_kinds(frozenset({kind_of(value)}))


def object_type(fields: Mapping[str, Type], rest: Type | None = None) -> Type:
    return _object(dict(fields), rest)


def array_type(items: Iterable[Type]) -> Type:
    return _array(dict(enumerate(items)), None)


_OBJECT_ONLY = frozenset({"object"})
_ARRAY_ONLY = frozenset({"array"})
_BY_KINDS: dict[frozenset[str], Type] = {}

ANY = Type.__new__(Type)
ANY.kinds = ALL_KINDS
ANY.fields = {}
ANY.rest = ANY
ANY.items = {}
ANY.items_rest = ANY
_BY_KINDS[ALL_KINDS] = ANY

NEVER = Type(())
"""The type of an expression that never gives a value (``abort``, ``return``)."""

NULL = of_kinds(frozenset({"null"}))
BOOLEAN = of_kinds(frozenset({"boolean"}))
STRING = of_kinds(frozenset({"string"}))


class _NotConst:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_CONST"


NOT_CONST: Any = _NotConst()
"""Stands for "not a constant" where a constant value is expected (typers, the compiler)."""


def array_of(item: Type) -> Type:
    """An array of any length whose items are of type ``item``."""
    return _array({}, item)


def object_of(value: Type) -> Type:
    """An object with any fields, each of type ``value``."""
    return _object({}, value)


def containers_like(t: Type) -> Type:
    """The object and array kinds of ``t`` (contents unknown): the result of functions that rebuild a
    container of the same kind (``flatten``, ``compact``, ``filter``...)."""
    kinds = t.kinds & {"object", "array"}
    return of_kinds(frozenset(kinds or {"object", "array"}))


def merged(left: Type, right: Type) -> Type:
    """The type of ``left | right`` (objects: ``right``'s fields win)."""
    if left.kinds != _OBJECT_ONLY or right.kinds != _OBJECT_ONLY:
        return of_kinds(_OBJECT_ONLY)
    fields = dict(left.fields)
    if right.rest is not None:  # any field of ``left`` may be overwritten by one of ``right``'s others
        fields = {k: union(v, right.rest) for k, v in fields.items()}
    fields.update(right.fields)
    rest = left.rest if right.rest is None else right.rest if left.rest is None else union(left.rest, right.rest)
    return _object(fields, rest)
