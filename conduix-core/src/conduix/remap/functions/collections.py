"""Object and array functions, path functions (``del``, ``exists``) and the closure functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conduix.remap.functions._support import to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.paths import clone, delete_path, get_path, path_exists, set_path
from conduix.remap.typedefs import ANY, STRING, Type, array_of, containers_like, merged, object_of, of_kinds
from conduix.remap.values import ITEM_OF_VALUE, ExprError, kind_of, kinds, values_equal

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

OBJ = kinds("object")
ARR = kinds("array")
CONTAINER = kinds("object", "array")
B = kinds("boolean")
S = kinds("string")
KEY = kinds("string", "integer")


def _same_kind(types: list[Type], consts: list[Any]) -> Type:
    """Typer: a container of the same kind as the first argument (``flatten`` of an object is an object)."""
    return containers_like(types[0])


# -- paths ---------------------------------------------------------------------

def _root(state: list[Any], ref: Any) -> Any:
    if ref.slot == 2:
        return state[2].get(ref.name)
    return state[ref.slot]


@function(FUNCTIONS, "exists", Param("path"), returns=B, path_arg=True, example="exists(.field)")
def exists(state: list[Any], ref: Any) -> bool:
    """Whether a path exists (even when its value is null)."""
    if ref.slot == 3:
        return path_exists(ref.base(state), ref.segments)
    if ref.slot == 2:
        if ref.name not in state[2]:
            return False
        return path_exists(state[2][ref.name], ref.segments)
    return path_exists(state[ref.slot], ref.segments)


@function(FUNCTIONS, "del", Param("path"), opt("compact", B, False), path_arg=True, fresh=False,
          effects=True, typer=lambda types, consts: types[0],
          example='.field = "value"; del(.field) == "value"')
def del_(state: list[Any], ref: Any, compact: bool) -> Any:
    """Remove a path and return the value it held (deleting ``.`` leaves an empty event)."""
    if ref.slot == 3:  # del(f().x): the value is a temporary, there is nothing to remove it from
        return get_path(ref.base(state), ref.segments)
    if not ref.segments:
        if ref.slot == 2:
            return state[2].pop(ref.name, None)
        removed = state[ref.slot]
        state[ref.slot] = {}
        return removed
    return delete_path(_root(state, ref), ref.segments, compact)


# -- object and array functions ----------------------------------------------------

def _empty(value: Any, null: bool, string: bool, obj: bool, array: bool, nullish: bool) -> bool:
    if value is None:
        return null or nullish
    t = type(value)
    if t is str:
        return (string and value == "") or (nullish and (value.strip() == "" or value == "-"))
    if t is dict:
        return obj and not value
    if t is list:
        return array and not value
    return False


@function(FUNCTIONS, "compact", Param("value", CONTAINER), opt("recursive", B, True), opt("null", B, True),
          opt("string", B, True), opt("object", B, True), opt("array", B, True), opt("nullish", B, False),
          returns=CONTAINER, typer=_same_kind, example='compact(["foo", "", null, [], "bar"]) == ["foo", "bar"]')
def compact(value: Any, recursive: bool, null: bool, string: bool, obj: bool, array: bool, nullish: bool) -> Any:
    """Remove empty values (null, "", {}, [] by default), recursively by default."""

    def walk(item: Any) -> Any:
        if recursive and type(item) in (dict, list):
            return run(item)
        return item

    def run(container: Any) -> Any:
        if type(container) is dict:
            out_obj = {}
            for k, v in container.items():
                v = walk(v)
                if not _empty(v, null, string, obj, array, nullish):
                    out_obj[k] = v
            return out_obj
        out_arr = []
        for v in container:
            v = walk(v)
            if not _empty(v, null, string, obj, array, nullish):
                out_arr.append(v)
        return out_arr

    return run(value)


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    out = dict(into)
    for key, value in other.items():
        if type(value) is dict and type(out.get(key)) is dict:
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@function(FUNCTIONS, "merge", Param("to", OBJ), Param("from", OBJ), opt("deep", B, False), returns=OBJ,
          fresh=False, typer=lambda types, consts: merged(types[0], types[1]) if consts[2] is False else
          of_kinds(OBJ), example='merge({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}')
def merge(to: dict[str, Any], from_: dict[str, Any], deep: bool) -> dict[str, Any]:
    """Merge ``from`` into ``to`` (``from`` wins); ``deep`` merges nested objects too."""
    if deep:
        return _deep_merge(to, from_)
    out = dict(to)
    out.update(from_)
    return out


@function(FUNCTIONS, "flatten", Param("value", CONTAINER), opt("separator", S, "."), opt("except", ARR, None),
          returns=CONTAINER, fresh=False, typer=_same_kind, example='flatten({"a": {"b": 1}}) == {"a.b": 1}')
def flatten(value: Any, separator: str, except_: list[Any] | None) -> Any:
    """Flatten nested arrays into one array, or nested objects into one object with joined keys.

    Objects under a key listed in ``except`` are kept as they are."""
    keep = frozenset(k for k in except_ or () if type(k) is str)
    if type(value) is list:
        out_list: list[Any] = []

        def add(items: list[Any]) -> None:
            for item in items:
                if type(item) is list:
                    add(item)
                else:
                    out_list.append(item)

        add(value)
        return out_list
    out: dict[str, Any] = {}

    def put(obj: dict[str, Any], prefix: str) -> None:
        for key, item in obj.items():
            name = f"{prefix}{separator}{key}" if prefix else key
            if type(item) is dict and item and key not in keep:
                put(item, name)
            else:
                out[name] = item

    put(value, "")
    return out


@function(FUNCTIONS, "unflatten", Param("value", OBJ), opt("separator", S, "."), opt("recursive", B, True),
          returns=OBJ, fresh=False, typer=lambda types, consts: object_of(ANY),
          example='unflatten({"a.b": 1}) == {"a": {"b": 1}}')
def unflatten(value: dict[str, Any], separator: str, recursive: bool) -> dict[str, Any]:
    """Turn keys joined by ``separator`` back into nested objects (keys taken in sorted order, as VRL)."""
    out: dict[str, Any] = {}
    for key in sorted(value):
        item = value[key]
        if recursive and type(item) is dict:
            item = unflatten(item, separator, recursive)
        parts = key.split(separator)
        container = out
        for part in parts[:-1]:
            child = container.get(part)
            if type(child) is not dict:
                child = {}
                container[part] = child
            container = child
        last = parts[-1]
        if type(item) is dict and type(container.get(last)) is dict:
            container[last] = {**container[last], **item}
        else:
            container[last] = item
    return out


@function(FUNCTIONS, "keys", Param("value", OBJ), returns=ARR, typer=lambda types, consts: array_of(STRING),
          example='keys({"a": 1, "b": 2}) == ["a", "b"]')
def keys(value: dict[str, Any]) -> list[str]:
    """The keys of an object, sorted (VRL objects are ordered by key)."""
    return sorted(value)


@function(FUNCTIONS, "values", Param("value", OBJ), returns=ARR, fresh=False,
          typer=lambda types, consts: array_of(types[0].element() if types[0].kinds == OBJ else ANY),
          example='values({"a": 1, "b": 2}) == [1, 2]')
def values(value: dict[str, Any]) -> list[Any]:
    """The values of an object, in key order."""
    return [value[k] for k in sorted(value)]


@function(FUNCTIONS, "length", Param("value", kinds("array", "object", "string")), returns=kinds("integer"),
          example='length(["a", "b"]) == 2')
def length(value: Any) -> int:
    """The number of items of an array or object, or bytes of a string (UTF-8, as VRL; ``strlen`` counts characters)."""
    if type(value) is str and not value.isascii():
        return len(to_bytes(value))
    return len(value)


@function(FUNCTIONS, "push", Param("value", ARR), Param("item"), returns=ARR, fresh=False,
          example="push([1, 2], 3) == [1, 2, 3]")
def push(value: list[Any], item: Any) -> list[Any]:
    """A new array with ``item`` added at the end."""
    return [*value, item]


@function(FUNCTIONS, "append", Param("value", ARR), Param("items", ARR), returns=ARR, fresh=False,
          example="append([1, 2], [3, 4]) == [1, 2, 3, 4]")
def append(value: list[Any], items: list[Any]) -> list[Any]:
    """A new array with ``items`` added at the end."""
    return [*value, *items]


@function(FUNCTIONS, "includes", Param("value", ARR), Param("item"), returns=B,
          example='includes(["apple", "orange"], "apple") == true')
def includes(value: list[Any], item: Any) -> bool:
    """Whether the array holds a value equal to ``item``."""
    return any(values_equal(v, item) for v in value)


@function(FUNCTIONS, "unique", Param("value", ARR), returns=ARR, fresh=False,
          example='unique(["a", "b", "a"]) == ["a", "b"]')
def unique(value: list[Any]) -> list[Any]:
    """The array without repeated values (first occurrences kept, in order)."""
    out: list[Any] = []
    for item in value:
        if not any(values_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _segments(path: list[Any]) -> tuple[Any, ...]:
    for seg in path:
        if type(seg) not in (str, int):
            raise ExprError(f"path segment must be either string or integer, not {kind_of(seg)}")
    return tuple(path)


@function(FUNCTIONS, "get", Param("value", CONTAINER), Param("path", ARR), fallible=True, fresh=False,
          example='get!({"a": {"b": 1}}, ["a", "b"]) == 1')
def get(value: Any, path: list[Any]) -> Any:
    """The value at a dynamic path (an array of keys and indexes); null when absent."""
    return get_path(value, _segments(path))


@function(FUNCTIONS, "set", Param("value", CONTAINER), Param("path", ARR), Param("data"), fallible=True,
          returns=CONTAINER, fresh=False, typer=_same_kind, example='set!({"a": 1}, ["b"], 2) == {"a": 1, "b": 2}')
def set_(value: Any, path: list[Any], data: Any) -> Any:
    """A copy of the container with ``data`` stored at a dynamic path."""
    segs = _segments(path)
    if not segs:
        return data
    # a container of the wrong kind for a segment is replaced, as VRL does (set!([], ["a"], 1) == {"a": 1})
    return set_path(clone(value), segs, data)


@function(FUNCTIONS, "remove", Param("value", CONTAINER), Param("path", ARR), opt("compact", B, False),
          fallible=True, returns=CONTAINER, fresh=False, typer=_same_kind,
          example='remove!({"a": 1, "b": 2}, ["b"]) == {"a": 1}')
def remove(value: Any, path: list[Any], compact: bool) -> Any:
    """A copy of the container without the value at a dynamic path."""
    segs = _segments(path)
    copy = clone(value)
    if not segs:
        return copy
    delete_path(copy, segs, compact)
    return copy


# -- closures --------------------------------------------------------------------

def _in_key_order(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    """An object's items in VRL's order (VRL objects are ordered by key): closures see them so."""
    return sorted(obj.items(), key=_first)


def _first(item: tuple[str, Any]) -> str:
    return item[0]


Closure = Callable[..., Any]


@function(FUNCTIONS, "for_each", Param("value", CONTAINER), closure=(KEY, ITEM_OF_VALUE), returns=kinds("null"),
          example="for_each({\"a\": 1}) -> |key, value| { .total = value }")
def for_each(run: Closure, value: Any) -> None:
    """Run the closure for every ``key, value`` (``index, value`` for arrays)."""
    items = _in_key_order(value) if type(value) is dict else enumerate(value)
    for key, item in list(items):
        run(key, item)


@function(FUNCTIONS, "map_values", Param("value", CONTAINER), opt("recursive", B, False), closure=(ITEM_OF_VALUE,),
          returns=CONTAINER, fresh=False, typer=_same_kind,
          example='map_values({"a": "x"}) -> |value| { upcase!(value) }')
def map_values(run: Closure, value: Any, recursive: bool) -> Any:
    """A copy with every value replaced by the closure's result (nested ones too with ``recursive``)."""

    def walk(item: Any) -> Any:
        # the collection itself first, then (with recursive) into what the closure returned
        item = run(item)
        if recursive and type(item) in (dict, list):
            item = apply(item)
        return item

    def apply(container: Any) -> Any:
        if type(container) is dict:
            return {k: walk(v) for k, v in _in_key_order(container)}
        return [walk(v) for v in container]

    return apply(value)


@function(FUNCTIONS, "map_keys", Param("value", OBJ), opt("recursive", B, False), closure=(S,), closure_returns=S,
          returns=OBJ, fresh=False, example='map_keys({"a": 1}) -> |key| { upcase(key) }')
def map_keys(run: Closure, value: dict[str, Any], recursive: bool) -> dict[str, Any]:
    """A copy with every key replaced by the closure's result (nested objects too with ``recursive``)."""
    out: dict[str, Any] = {}
    for key, item in _in_key_order(value):
        if recursive and type(item) is dict:
            item = map_keys(run, item, recursive)
        elif recursive and type(item) is list:
            item = [map_keys(run, v, recursive) if type(v) is dict else v for v in item]
        new_key = run(key)
        if type(new_key) is not str:
            raise ExprError(f"map_keys closure must return a string, got {kind_of(new_key)}")
        out[new_key] = item
    return out


@function(FUNCTIONS, "filter", Param("value", CONTAINER), closure=(KEY, ITEM_OF_VALUE), returns=CONTAINER, fresh=False,
          closure_returns=B, typer=_same_kind,
          example='filter([1, 2, 3]) -> |_index, value| { value > 1 }')
def filter_(run: Closure, value: Any) -> Any:
    """A copy keeping only the entries for which the closure returns true."""

    def keep(key: Any, item: Any) -> bool:
        result = run(key, item)
        if type(result) is not bool:
            raise ExprError(f"filter closure must return a boolean, got {kind_of(result)}")
        return result

    if type(value) is dict:
        return {k: v for k, v in _in_key_order(value) if keep(k, v)}
    return [v for i, v in enumerate(list(value)) if keep(i, v)]
