"""Parse functions for structured text: JSON, key/value, regex, tokens, CSV, URLs, query strings."""

from __future__ import annotations

import csv
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.regex import Regex, is_regex
from conduix.remap.typedefs import NOT_CONST, NULL, STRING, Type, array_of, object_of, object_type, union
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
B = kinds("boolean")
OBJ = kinds("object")
ARR = kinds("array")
JSON_KINDS = kinds("string", "integer", "float", "boolean", "null", "array", "object")


_WS = " \t\n\r"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _value_end(text: str, pos: int) -> int:
    """The end of the (already validated) JSON value starting at ``pos``."""
    depth = 0
    in_string = False
    i = pos
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
                if depth == 0:
                    return i + 1
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:  # the end of the enclosing container: a scalar ends here
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and ch in ",:" + _WS:
            return i
        i += 1
    return i


def _depth_limited(text: str, pos: int, depth: int) -> tuple[Any, int]:
    """Parse the value at ``pos``; containers at ``depth`` 0 stay as their raw JSON text (VRL's max_depth)."""
    pos = _skip_ws(text, pos)
    end = _value_end(text, pos)
    opener = text[pos]
    if opener not in "[{":
        return orjson.loads(text[pos:end]), end
    if depth <= 0:
        return text[pos:end], end
    closer = "]" if opener == "[" else "}"
    out: Any = [] if opener == "[" else {}
    pos = _skip_ws(text, pos + 1)
    while text[pos] != closer:
        if opener == "{":
            key_end = _value_end(text, pos)
            key = orjson.loads(text[pos:key_end])
            pos = _skip_ws(text, key_end) + 1  # the colon
            item, pos = _depth_limited(text, pos, depth - 1)
            out[key] = item
        else:
            item, pos = _depth_limited(text, pos, depth - 1)
            out.append(item)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    return out, pos + 1


_SERDE_WORDING = (
    # orjson's words -> serde_json's (VRL's JSON parser), for the usual mistakes
    ("expected a string key", "key must be a string"),
    ("unexpected end of data", "EOF while parsing a value"),
    ("unexpected content after document", "trailing characters"),
    ("invalid literal", "expected ident"),
    ("invalid number", "invalid number"),
    ("invalid escaped sequence", "invalid escape"),
    ("unexpected character", "expected value"),
)
_POSITION = re.compile(r"line (\d+) column (\d+)")


def json_error(exc: BaseException) -> str:
    """A JSON syntax error worded as VRL's (serde_json's): ``key must be a string at line 1 column 3``."""
    text = str(exc)
    where = _POSITION.search(text)
    for ours, theirs in _SERDE_WORDING:
        if ours in text:
            return f"{theirs} at {where.group(0)}" if where else theirs
    return text


@function(FUNCTIONS, "parse_json", Param("value", S), opt("max_depth", kinds("integer"), None),
          opt("lossy", B, True), returns=JSON_KINDS, fallible=True,
          fast=lambda rest: orjson.loads if rest[0] is None else None,
          fast_raises=((orjson.JSONDecodeError,), lambda exc: f"unable to parse json: {json_error(exc)}"),
          example='parse_json!("{\\"key\\": \\"val\\"}") == {"key": "val"}')
def parse_json(value: str, max_depth: int | None, lossy: bool) -> Any:
    """Parse JSON text; with ``max_depth``, containers deeper than that are kept as their JSON text."""
    try:
        result = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ExprError(f"unable to parse json: {json_error(exc)}") from None
    if max_depth is not None:
        if not 1 <= max_depth <= 128:
            raise ExprError("max_depth value should be between 1 and 128")
        result = _depth_limited(value, 0, max_depth)[0]
    return result


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a ``"..."`` string starting at ``pos``; returns (content, position after it)."""
    out: list[str] = []
    i = pos + 1
    size = len(text)
    while i < size:
        ch = text[i]
        if ch == "\\" and i + 1 < size and text[i + 1] == '"':
            out.append('"')
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ExprError(f"could not parse key/value: unterminated quote at {pos}")


def _until(text: str, pos: int, stops: tuple[str, ...]) -> int:
    size = len(text)
    while pos < size:
        for stop in stops:
            if stop and text.startswith(stop, pos):
                return pos
        pos += 1
    return pos


@function(FUNCTIONS, "parse_key_value", Param("value", S), opt("key_value_delimiter", S, "="),
          opt("field_delimiter", S, " "), opt("whitespace", S, "lenient"),
          opt("accept_standalone_key", B, True), returns=OBJ, fallible=True,
          example='parse_key_value!("level=info msg=\\"hi there\\"") == {"level": "info", "msg": "hi there"}')
def parse_key_value(value: str, key_value_delimiter: str, field_delimiter: str, whitespace: str,
                    accept_standalone_key: bool) -> dict[str, Any]:
    """Parse ``key=value`` pairs (logfmt); repeated keys give arrays, bare keys give ``true``."""
    if whitespace not in ("lenient", "strict"):
        raise ExprError(f"whitespace must be lenient or strict, got {whitespace!r}")
    lenient = whitespace == "lenient"
    kv, fd = key_value_delimiter, field_delimiter
    out: dict[str, Any] = {}
    pos = 0
    size = len(value)

    def skip_spaces(p: int) -> int:
        while p < size and value[p] in " \t":
            p += 1
        return p

    while pos < size:
        while pos < size and (value.startswith(fd, pos) or value[pos].isspace()):
            pos += len(fd) if value.startswith(fd, pos) else 1
        if pos >= size:
            break
        if value[pos] == '"':
            key, pos = _quoted(value, pos)
        else:
            end = _until(value, pos, (kv, fd, " ") if lenient else (kv, fd))
            key, pos = value[pos:end].strip() if lenient else value[pos:end], end
        item: Any
        look = skip_spaces(pos) if lenient else pos
        if value.startswith(kv, look):
            pos = look + len(kv)
            if lenient:
                pos = skip_spaces(pos)
            if pos < size and value[pos] == '"':
                item, pos = _quoted(value, pos)
            else:
                end = _until(value, pos, (fd,))
                item = value[pos:end].strip() if lenient else value[pos:end]
                pos = end
        else:
            if not accept_standalone_key:
                raise ExprError(f"could not parse key/value: missing delimiter after key {key!r}")
            item = True
        if key in out:
            existing = out[key]
            out[key] = [*existing, item] if type(existing) is list else [existing, item]
        else:
            out[key] = item
    return out


@function(FUNCTIONS, "parse_logfmt", Param("value", S), returns=OBJ, fallible=True,
          example='parse_logfmt!("level=info msg=\\"hi there\\"") == {"level": "info", "msg": "hi there"}')
def parse_logfmt(value: str) -> dict[str, Any]:
    """Parse logfmt: ``parse_key_value`` with its default delimiters."""
    return parse_key_value(value, "=", " ", "lenient", True)


def _captures(match: Any, numeric_groups: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if numeric_groups:
        out["0"] = match.group(0)
        for index, group in enumerate(match.groups(), start=1):
            out[str(index)] = group
    out.update(match.groupdict())
    return out


def _captures_type(types: list[Type], consts: list[Any]) -> Type:
    """Typer of ``parse_regex``: with a literal pattern, its named groups are known string fields (and the
    numbered ones strings or null), as in VRL."""
    pattern = consts[1]
    if pattern is NOT_CONST or not is_regex(pattern):
        return object_of(union(STRING, NULL))
    fields: dict[str, Type] = {str(i): union(STRING, NULL) for i in range(pattern.groups + 1)}
    fields.update({name: STRING for name in pattern.groupindex})
    return object_type(fields)


@function(FUNCTIONS, "parse_regex", Param("value", S), Param("pattern", kinds("regex")),
          opt("numeric_groups", B, False), returns=OBJ, fallible=True, typer=_captures_type,
          example="parse_regex!(\"first group and second group.\", r'(?P<number>.*?) group') == "
                  '{"number": "first"}')
def parse_regex(value: str, pattern: Regex, numeric_groups: bool) -> dict[str, Any]:
    """The named capture groups of the first match (numbered ones too with ``numeric_groups``)."""
    match = pattern.search(value)
    if match is None:
        raise ExprError("could not find any pattern matches")
    return _captures(match, numeric_groups)


@function(FUNCTIONS, "parse_regex_all", Param("value", S), Param("pattern", kinds("regex")),
          opt("numeric_groups", B, False), returns=ARR, fallible=True,
          typer=lambda types, consts: array_of(_captures_type(types, consts)),
          example="parse_regex_all!(\"a1 b2\", r'(?P<l>[a-z])(?P<d>\\d)') == "
                  '[{"l": "a", "d": "1"}, {"l": "b", "d": "2"}]')
def parse_regex_all(value: str, pattern: Regex, numeric_groups: bool) -> list[dict[str, Any]]:
    """The capture groups of every match; no match at all is an error."""
    matches = [_captures(m, numeric_groups) for m in pattern.finditer(value)]
    if not matches:
        raise ExprError("could not find any pattern matches")
    return matches


@function(FUNCTIONS, "parse_tokens", Param("value", S), returns=ARR,
          example='parse_tokens("A sentence \\"with quotes\\" and [brackets]") == '
                  '["A", "sentence", "with quotes", "and", "brackets"]')
def parse_tokens(value: str) -> list[Any]:
    """Split into words, ``"quoted text"`` and ``[bracketed text]``; a lone ``-`` becomes null."""
    out: list[Any] = []
    pos = 0
    size = len(value)
    while pos < size:
        ch = value[pos]
        if ch.isspace():
            pos += 1
            continue
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            end = pos + 1
            while end < size and not (value[end] == close and value[end - 1] != "\\"):
                end += 1
            out.append(value[pos + 1:end])
            pos = end + 1
            continue
        end = pos
        while end < size and not value[end].isspace():
            end += 1
        token = value[pos:end]
        out.append(None if token == "-" else token)
        pos = end
    return out


@function(FUNCTIONS, "parse_csv", Param("value", S), opt("delimiter", S, ","), returns=ARR, fallible=True,
          example='parse_csv!("foo,bar,\\"foo \\"\\", bar\\"") == ["foo", "bar", "foo \\", bar"]')
def parse_csv(value: str, delimiter: str) -> list[str]:
    """The fields of the first CSV record."""
    if len(delimiter) != 1:
        raise ExprError("delimiter must be a single character")
    try:
        for row in csv.reader(value.splitlines() or [""], delimiter=delimiter, strict=True):
            return row
    except csv.Error as exc:
        raise ExprError(f"invalid csv record: {exc}") from None
    return []


_KNOWN_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


@function(FUNCTIONS, "parse_url", Param("value", S), opt("default_known_ports", B, False), returns=OBJ,
          fallible=True, example='parse_url!("https://example.com/path?x=1")')
def parse_url(value: str, default_known_ports: bool) -> dict[str, Any]:
    """Split a URL into scheme, username, password, host, port, path, query (object) and fragment."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", value):
        raise ExprError("unable to parse url: relative URL without a base")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ExprError(f"unable to parse url: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in _KNOWN_PORTS and not parts.hostname:
        raise ExprError("unable to parse url: empty host")
    if port is not None and _KNOWN_PORTS.get(scheme) == port:
        port = None
    if port is None and default_known_ports:
        port = _KNOWN_PORTS.get(scheme)
    path = parts.path
    if not path and scheme in _KNOWN_PORTS:
        path = "/"
    query: dict[str, Any] = {}
    for key, item in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = item
    return {
        "scheme": scheme,
        "username": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "host": parts.hostname,
        "port": port,
        "path": path,
        "query": query,
        "fragment": parts.fragment if "#" in value else None,
    }


@function(FUNCTIONS, "parse_query_string", Param("value", S), returns=OBJ,
          example='parse_query_string("foo=%2B1&bar=2&bar=3&xyz") == {"foo": "+1", "bar": ["2", "3"], "xyz": ""}')
def parse_query_string(value: str) -> dict[str, Any]:
    """Parse ``a=1&b=2``; repeated keys give arrays of strings."""
    out: dict[str, Any] = {}
    for key, item in parse_qsl(value.lstrip("?"), keep_blank_values=True):
        if key in out:
            existing = out[key]
            out[key] = [*existing, item] if type(existing) is list else [existing, item]
        else:
            out[key] = item
    return out
