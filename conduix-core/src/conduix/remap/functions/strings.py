"""String functions: case, trimming, searching, replacing, splitting and slicing."""

from __future__ import annotations

import re
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.regex import Regex
from conduix.remap.values import ExprError, kind_of, kinds

__all__ = ["FUNCTIONS", "expand_replacement"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")
I = kinds("integer")  # noqa: E741
PATTERN = kinds("string", "regex")


@function(FUNCTIONS, "upcase", Param("value", S), returns=S, fast=lambda rest: str.upper,
          example='upcase("Hello") == "HELLO"')
def upcase(value: str) -> str:
    """Upper-case a string."""
    return value.upper()


@function(FUNCTIONS, "downcase", Param("value", S), returns=S, fast=lambda rest: str.lower,
          example='downcase("Hello") == "hello"')
def downcase(value: str) -> str:
    """Lower-case a string."""
    return value.lower()


@function(FUNCTIONS, "strip_whitespace", Param("value", S), returns=S, fast=lambda rest: str.strip,
          example='strip_whitespace("  hi ") == "hi"')
def strip_whitespace(value: str) -> str:
    """Remove leading and trailing whitespace."""
    return value.strip()


@function(FUNCTIONS, "truncate", Param("value", S), Param("limit", kinds("integer", "float")),
          opt("ellipsis", B, False), opt("suffix", S, None), returns=S,
          example='truncate("A rather long sentence.", limit: 11, suffix: "...") == "A rather lo..."')
def truncate(value: str, limit: float, ellipsis: bool, suffix: str | None) -> str:
    """Keep the first ``limit`` characters, adding ``suffix`` (or ``...`` with ``ellipsis``) when cut."""
    size = max(int(limit), 0)
    if len(value) <= size:
        return value
    tail = "..." if ellipsis else (suffix or "")
    return value[:size] + tail


def _fold(value: str, other: str, case_sensitive: bool) -> tuple[str, str]:
    if case_sensitive:
        return value, other
    return value.lower(), other.lower()


@function(FUNCTIONS, "contains", Param("value", S), Param("substring", S), opt("case_sensitive", B, True),
          returns=B, example='contains("The Needle", "needle", case_sensitive: false) == true')
def contains(value: str, substring: str, case_sensitive: bool) -> bool:
    """Whether ``substring`` occurs in ``value``."""
    value, substring = _fold(value, substring, case_sensitive)
    return substring in value


@function(FUNCTIONS, "starts_with", Param("value", S), Param("substring", S), opt("case_sensitive", B, True),
          returns=B, example='starts_with("The Needle", "The") == true')
def starts_with(value: str, substring: str, case_sensitive: bool) -> bool:
    """Whether ``value`` begins with ``substring``."""
    value, substring = _fold(value, substring, case_sensitive)
    return value.startswith(substring)


@function(FUNCTIONS, "ends_with", Param("value", S), Param("substring", S), opt("case_sensitive", B, True),
          returns=B, example='ends_with("The Needle", "Needle") == true')
def ends_with(value: str, substring: str, case_sensitive: bool) -> bool:
    """Whether ``value`` ends with ``substring``."""
    value, substring = _fold(value, substring, case_sensitive)
    return value.endswith(substring)


_REPLACEMENT = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


def expand_replacement(template: str, match: Any) -> str:
    """Expand ``$1``, ``$name`` and ``${name}`` (Rust regex replacement syntax); ``$$`` is a dollar."""

    def one(ref: Any) -> str:
        if ref.group(0) == "$$":
            return "$"
        name = ref.group(1) or ref.group(2)
        try:
            group = match.group(int(name) if name.isdigit() else name)
        except (IndexError, re.error):
            return ""
        return group or ""

    return _REPLACEMENT.sub(one, template)


@function(FUNCTIONS, "replace", Param("value", S), Param("pattern", PATTERN), Param("with", S),
          opt("count", I, -1), returns=S,
          example='replace("Apples and Bananas", "and", "not") == "Apples not Bananas"')
def replace(value: str, pattern: str | Regex, with_: str, count: int) -> str:
    """Replace matches of a string or regex; ``count`` limits how many (-1: all)."""
    if isinstance(pattern, str):
        return value.replace(pattern, with_, count if count >= 0 else -1)
    return pattern.sub(lambda m: expand_replacement(with_, m), value, count=max(count, 0) if count >= 0 else 0)


@function(FUNCTIONS, "split", Param("value", S), Param("pattern", PATTERN), opt("limit", I, None),
          returns=kinds("array"), example='split("apples and pears and bananas", " and ") == '
                                          '["apples", "pears", "bananas"]')
def split(value: str, pattern: str | Regex, limit: int | None) -> list[str]:
    """Split into at most ``limit`` pieces on a string or regex."""
    if limit is not None and limit <= 0:
        return []
    maxsplit = -1 if limit is None else limit - 1
    if isinstance(pattern, str):
        if pattern == "":
            chars = ["", *value, ""]
            if limit is not None and len(chars) > limit:
                chars = [*chars[: limit - 1], "".join(chars[limit - 1:])]
            return chars
        return value.split(pattern, maxsplit)
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(value):
        if maxsplit >= 0 and len(pieces) >= maxsplit:
            break
        if match.end() == match.start() == 0:
            continue
        pieces.append(value[start:match.start()])
        start = match.end()
    pieces.append(value[start:])
    return pieces


@function(FUNCTIONS, "join", Param("value", kinds("array")), opt("separator", S, ""), returns=S, fallible=True,
          example='join!(["bring", "us", "together"], separator: " ") == "bring us together"')
def join(value: list[Any], separator: str) -> str:
    """Join an array of strings."""
    for item in value:
        if type(item) is not str:
            raise ExprError(f"all array items must be strings, found {kind_of(item)}")
    return separator.join(value)


def _bound(index: int, size: int) -> int:
    return index + size if index < 0 else index


@function(FUNCTIONS, "slice", Param("value", kinds("string", "array")), Param("start", I),
          opt("end", I, None), returns=kinds("string", "array"), fallible=True,
          example='slice!("Supercalifragilisticexpialidocious", start: 5, end: 13) == "califrag"')
def slice_(value: str | list[Any], start: int, end: int | None) -> str | list[Any]:
    """The part of a string or array between ``start`` and ``end`` (negative counts from the end)."""
    size = len(value)
    lo = max(_bound(start, size), 0)
    hi = size if end is None else min(_bound(end, size), size)
    if lo > size:
        raise ExprError(f'"start" must be between {-size} and {size}')
    if hi < lo:
        raise ExprError('"end" must be greater or equal to "start"')
    return value[lo:hi]


@function(FUNCTIONS, "match", Param("value", S), Param("pattern", kinds("regex")), returns=B,
          example="match(\"I'm a little teapot\", r'teapot') == true")
def match(value: str, pattern: Regex) -> bool:
    """Whether the regex matches anywhere in the string."""
    return pattern.search(value) is not None
