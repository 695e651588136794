"""More array and object functions: entries, tallies, zipping, unnesting, and ``replace_with``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.paths import clone, get_path, set_path
from conduix.remap.typedefs import NULL, STRING, array_of, object_type, union
from conduix.remap.values import ExprError, kind_of, kinds, values_equal

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

ARR = kinds("array")
OBJ = kinds("object")
B = kinds("boolean")
S = kinds("string")


@function(FUNCTIONS, "pop", Param("value", ARR), returns=ARR, fresh=False, example="pop([1, 2, 3]) == [1, 2]")
def pop(value: list[Any]) -> list[Any]:
    """A new array without the last item."""
    return value[:-1]


@function(FUNCTIONS, "zip", Param("array_0", ARR), opt("array_1", ARR, None), returns=ARR, fresh=False,
          example="zip([1, 2, 3], [4, 5, 6, 7]) == [[1, 4], [2, 5], [3, 6]]")
def zip_(array_0: list[Any], array_1: list[Any] | None) -> list[list[Any]]:
    """Pair up the items of two arrays, or of every array in ``array_0``, up to the shortest."""
    if array_1 is not None:
        return [[a, b] for a, b in zip(array_0, array_1)]
    for item in array_0:
        if type(item) is not list:
            raise ExprError(f"expected array, got {kind_of(item)}")
    return [list(items) for items in zip(*array_0)] if array_0 else []


def _key(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise ExprError("object keys must be strings")
    return value


@function(FUNCTIONS, "object_from_array", Param("values", ARR), opt("keys", ARR, None), returns=OBJ, fresh=False,
          example='object_from_array([["one", 1], [null, 2], ["two", 3]]) == {"one": 1, "two": 3}')
def object_from_array(values: list[Any], keys: list[Any] | None) -> dict[str, Any]:
    """An object from ``[key, value]`` pairs, or from ``keys`` and ``values``; null keys are skipped."""
    out: dict[str, Any] = {}
    if keys is not None:
        for key, value in zip(keys, values):
            name = _key(key)
            if name is not None:
                out[name] = value
        return out
    for pair in values:
        if type(pair) is not list:
            raise ExprError(f"expected array, got {kind_of(pair)}")
        if not pair:
            raise ExprError("array value too short")
        name = _key(pair[0])
        if name is not None:
            out[name] = pair[1] if len(pair) > 1 else None
    return out


@function(FUNCTIONS, "to_entries", Param("value", kinds("object", "array")), returns=ARR, fresh=False,
          example='to_entries({"foo": "bar"}) == [{"key": "foo", "value": "bar"}]')
def to_entries(value: Any) -> list[dict[str, Any]]:
    """``[{"key": k, "value": v}, ...]`` of an object (keys in order) or an array (indexes as keys)."""
    if type(value) is dict:
        return [{"key": k, "value": value[k]} for k in sorted(value)]
    return [{"key": i, "value": v} for i, v in enumerate(value)]


@function(FUNCTIONS, "from_entries", Param("value", ARR), returns=OBJ, fresh=False,
          example='from_entries([{"key": "foo", "value": "bar"}]) == {"foo": "bar"}')
def from_entries(value: list[Any]) -> dict[str, Any]:
    """An object from entries (``key``/``Key``/``name``/``Name`` and ``value``/``Value``)."""
    out: dict[str, Any] = {}
    for entry in value:
        if type(entry) is not dict:
            raise ExprError(f"expected object, got {kind_of(entry)}")
        key = next((entry[a] for a in ("key", "Key", "name", "Name")
                    if a in entry and entry[a] is not None and entry[a] is not False), None)
        if type(key) is not str:
            raise ExprError("object keys must be strings")
        out[key] = entry["value"] if "value" in entry else entry.get("Value")
    return out


@function(FUNCTIONS, "tally", Param("value", ARR), returns=OBJ, fallible=True,
          example='tally!(["foo", "bar", "foo", "baz"]) == {"foo": 2, "bar": 1, "baz": 1}')
def tally(value: list[Any]) -> dict[str, int]:
    """How many times each string occurs in the array."""
    out: dict[str, int] = {}
    for item in value:
        if type(item) is not str:
            raise ExprError(f"all values must be strings, found: {kind_of(item)}")
        out[item] = out.get(item, 0) + 1
    return out


@function(FUNCTIONS, "tally_value", Param("array", ARR), Param("value"), returns=kinds("integer"),
          example='tally_value(["foo", "bar", "foo", "baz"], "foo") == 2')
def tally_value(array: list[Any], value: Any) -> int:
    """How many items of the array equal ``value``."""
    return sum(1 for item in array if values_equal(item, value))


@function(FUNCTIONS, "match_array", Param("value", ARR), Param("pattern", kinds("regex")), opt("all", B, False),
          returns=B, example="match_array([\"foobar\", \"bazqux\"], r'foo') == true")
def match_array(value: list[Any], pattern: Any, all_: bool) -> bool:
    """Whether any (with ``all``: every) item is a string the regex matches."""

    def hit(item: Any) -> bool:
        return type(item) is str and pattern.search(item) is not None

    return all(hit(i) for i in value) if all_ else any(hit(i) for i in value)


_TAGS = {str: "string", int: "integer", float: "float", bool: "boolean", datetime: "timestamp"}


@function(FUNCTIONS, "tag_types_externally", Param("value"), returns=kinds("object", "array", "null"),
          example='tag_types_externally(123) == {"integer": 123}')
def tag_types_externally(value: Any) -> Any:
    """Wrap every scalar in an object naming its kind (``{"string": "a"}``), through objects and arrays."""
    if type(value) is dict:
        return {k: tag_types_externally(v) for k, v in value.items()}
    if type(value) is list:
        return [tag_types_externally(v) for v in value]
    if value is None:
        return None
    tag = _TAGS.get(type(value)) or kind_of(value)
    return {tag: value}


@function(FUNCTIONS, "unnest", Param("path"), path_arg=True, returns=ARR,
          example='. = {"id": 1, "tags": ["a", "b"]}; '
                  'unnest(.tags) == [{"id": 1, "tags": "a"}, {"id": 1, "tags": "b"}]')
def unnest(state: list[Any], ref: Any) -> list[Any]:
    """One copy of the event (or variable) per item of the array at the path, holding that item there.

    VRL checks at compile time that the path holds an array; here a non-array is a runtime error."""
    if ref.slot == 2:
        root = state[2].get(ref.name)
    elif ref.slot == 3:
        root = ref.base(state)
    else:
        root = state[ref.slot]
    items = get_path(root, ref.segments)
    if type(items) is not list:
        raise ExprError(f"expected array, got {kind_of(items)}")
    return [set_path(clone(root), ref.segments, clone(item)) for item in items]


Closure = Callable[..., Any]


def _match_object(match: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"string": match.group(0), "captures": list(match.groups())}
    for name, group in match.groupdict().items():
        out[name] = group
    return out


_MATCH = object_type({"string": STRING, "captures": array_of(union(STRING, NULL))}, union(STRING, NULL))
"""What ``replace_with``'s closure gets, as VRL types it: the match, its captures, its named groups."""


@function(FUNCTIONS, "replace_with", Param("value", S), Param("pattern", kinds("regex")),
          opt("count", kinds("integer"), -1), closure=(_MATCH,), closure_returns=S, returns=S,
          example="replace_with(\"apples and bananas\", r'\\b(\\w)(\\w*)') -> |match| "
                  "{ upcase!(match.captures[0]) + string!(match.captures[1]) } == \"Apples And Bananas\"")
def replace_with(run: Closure, value: str, pattern: Any, count: int) -> str:
    """Replace regex matches with what the closure returns for each; it gets ``{string, captures, <name>...}``."""
    if "string" in pattern.groupindex or "captures" in pattern.groupindex:
        raise ExprError('Capture group cannot be named "string" or "captures"')
    out: list[str] = []
    last = 0
    for index, match in enumerate(pattern.finditer(value)):
        if 0 <= count <= index:
            break
        replacement = run(_match_object(match))
        if type(replacement) is not str:
            raise ExprError(f"replace_with closure must return a string, got {kind_of(replacement)}")
        out.append(value[last:match.start()])
        out.append(replacement)
        last = match.end()
    out.append(value[last:])
    return "".join(out)
