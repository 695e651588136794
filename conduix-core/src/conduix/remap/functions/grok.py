"""Grok: ``parse_grok`` and ``parse_groks`` with the Logstash pattern library (pygrok).

Grok patterns expand to regular expressions that need backtracking (look-arounds, atomic groups), as
in VRL, whose grok also runs on a backtracking engine (Oniguruma); the `regex` module does the
matching. A pattern is compiled the first time a program uses it, then kept.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from conduix.remap.functions._support import library
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
ARR = kinds("array")
OBJ = kinds("object")


_CAPTURE = re.compile(r"%\{(\w+):([^:}]+)((?::[^}]*)?)\}")


class _Pattern:
    """A compiled grok pattern; capture names that are not Python identifiers (``http.status``) are renamed
    for the regex engine and given back their names in :meth:`match`."""

    def __init__(self, grok: Any, names: dict[str, str]) -> None:
        self.grok = grok
        self.names = names

    def match(self, value: str) -> dict[str, Any] | None:
        found = self.grok.match(value)
        if found is None:
            return None
        return {self.names.get(k, k): v for k, v in found.items()}


def _rename(pattern: str, names: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        syntax, name, rest = match.groups()
        if name.isidentifier():
            return match.group(0)
        safe = f"grok_field_{len(names)}"
        names[safe] = name
        return f"%{{{syntax}:{safe}{rest}}}"

    return _CAPTURE.sub(one, pattern)


@functools.lru_cache(maxsize=256)
def _grok(pattern: str, aliases: tuple[tuple[str, str], ...] = ()) -> _Pattern:
    pygrok = library("pygrok", "pygrok")
    names: dict[str, str] = {}
    renamed = _rename(pattern, names)
    custom = {key: _rename(text, names) for key, text in aliases}
    try:
        return _Pattern(pygrok.Grok(renamed, custom_patterns=custom), names)
    except KeyError as exc:
        raise ExprError(f"The given pattern definition name {exc} could not be found in the definition map") \
            from None
    except Exception as exc:  # the regex module's own error type, raised for a pattern that does not compile
        raise ExprError(f"invalid grok pattern: {exc}") from None


@function(FUNCTIONS, "parse_grok", Param("value", S), Param("pattern", S), returns=OBJ, fallible=True,
          example='parse_grok!("2020-10-02T23:22:12.223222Z info Hello world", '
                  '"%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:message}").level == "info"')
def parse_grok(value: str, pattern: str) -> dict[str, Any]:
    """The named captures of a grok pattern (``%{SYNTAX:name}``, Logstash's pattern library)."""
    match = _grok(pattern).match(value)
    if match is None:
        raise ExprError("unable to parse input with grok pattern")
    return dict(match)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in flat.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = item
    return out


@functools.lru_cache(maxsize=32)
def _alias_file(path: str) -> tuple[tuple[str, str], ...]:
    try:
        with open(path, "rb") as handle:
            loaded = orjson.loads(handle.read(4 * 1024 * 1024))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ExprError(f"unable to read grok aliases from {path!r}: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ExprError(f"grok aliases in {path!r} must be an object of strings")
    return tuple(loaded.items())


@function(FUNCTIONS, "parse_groks", Param("value", S), Param("patterns", ARR), opt("aliases", OBJ, None),
          opt("alias_sources", ARR, None), returns=OBJ, fallible=True,
          example='parse_groks!("user=ada", patterns: ["%{_user}"], aliases: {"_user": "user=%{WORD:name}"}).name '
                  '== "ada"')
def parse_groks(value: str, patterns: list[Any], aliases: dict[str, Any] | None,
                alias_sources: list[Any] | None) -> dict[str, Any]:
    """Try grok patterns in order; ``aliases`` (and JSON files in ``alias_sources``) name sub-patterns.

    Dotted capture names (``%{WORD:http.method}``) become nested objects, as in VRL."""
    merged: dict[str, str] = {}
    for path in alias_sources or ():
        if type(path) is not str:
            raise ExprError("alias_sources must be an array of file paths")
        merged.update(_alias_file(path))
    for name, pattern in (aliases or {}).items():
        if type(pattern) is not str:
            raise ExprError(f"alias {name!r} must be a string")
        merged[name] = pattern
    table = tuple(sorted(merged.items()))
    for pattern in patterns:
        if type(pattern) is not str:
            raise ExprError("patterns must be an array of strings")
        match = _grok(pattern, table).match(value)
        if match is not None:
            return _nest(match)
    raise ExprError("unable to parse input with grok pattern")

