"""``match_datadog_query``: Datadog's log search syntax, evaluated against an object.

The query language (terms, ``"phrases"``, ``@attribute:value``, ``tag:value``, ``*`` wildcards,
``[a TO b]`` ranges, ``>=`` comparisons, ``_exists_:`` / ``_missing_:``, ``AND`` / ``OR`` / ``NOT`` / ``-``,
parentheses) is read by a recursive-descent port of VRL's PEG grammar (``datadog/search/grammar.pest``)
and matched as VRL's filter does. A query is parsed the first time a program uses it, then kept.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conduix.remap.functions.spec import FunctionSpec, Param, function
from conduix.remap.functions.types import float_text
from conduix.remap.values import ExprError, display, kinds

__all__ = ["FUNCTIONS"]

FUNCTIONS: list[FunctionSpec] = []

Matcher = Callable[[Any], bool]

_DEFAULT_FIELD = "_default_"
_DEFAULT_FIELDS = ("message", "custom.error.message", "custom.error.stack", "custom.title", "_default_")
_RESERVED = ("host", "source", "status", "service", "trace_id", "message", "timestamp", "tags")
_WS = " \r\n\t"
_INVALID_START = set(_WS) | set('"()[]{}+-!:~^?*\\>=<')
_END = set(_WS) | set(")]}")

# -- the query tree ------------------------------------------------------------------------------------


@dataclass
class _Node:
    kind: str  # all, none, exists, missing, term, prefix, wildcard, compare, range, not, and, or
    attr: str = ""
    value: Any = None
    extra: Any = None
    children: tuple[_Node, ...] = ()


def _boolean(kind: str, nodes: list[_Node]) -> _Node:
    return nodes[0] if len(nodes) == 1 else _Node(kind, children=tuple(nodes))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


class _Parser:
    """The PEG grammar of Datadog search, rule by rule (ordered choice, lookaheads, implicit whitespace)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def ws(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _WS:
            pos += 1
        return pos

    def keyword(self, pos: int, words: tuple[str, ...]) -> int | None:
        for word in words:
            if self.text.startswith(word, pos):
                return pos + len(word)
        return None

    def start_char(self, pos: int) -> int | None:
        if pos >= len(self.text):
            return None
        if self.text[pos] == "\\":
            return pos + 2 if pos + 1 < len(self.text) else None
        if self.text[pos] in _INVALID_START or self.text.startswith("UNICODE3000", pos):
            return None
        return pos + 1

    def term_char(self, pos: int, glob: bool = False) -> int | None:
        end = self.start_char(pos)
        if end is None and pos < len(self.text) and (self.text[pos] in "-+=" or (glob and self.text[pos] in "*?")):
            return pos + 1
        return end

    def at_end(self, pos: int) -> bool:
        return pos >= len(self.text) or self.text[pos] in _END

    def term(self, pos: int) -> int | None:
        if self.keyword(pos, ("AND", "&&", "OR", "||", "NOT", "-")) is not None:
            return None
        end = self.start_char(pos)
        if end is None:
            return None
        while (nxt := self.term_char(end)) is not None:
            end = nxt
        return end

    def phrase(self, pos: int) -> int | None:
        if not self.text.startswith('"', pos):
            return None
        pos += 1
        while pos < len(self.text):
            if self.text[pos] == "\\":
                pos += 2
            elif self.text[pos] == '"':
                return pos + 1
            else:
                pos += 1
        return None

    def query(self, pos: int, field: str) -> tuple[_Node, int]:
        groups: list[_Node] = []
        group: list[_Node] = []
        negate = False
        first = True
        while True:
            start = self.ws(pos)
            multi = self.multiterm(start, field)
            if multi is not None:
                node, pos = multi
                group.append(_Node("not", children=(node,)) if negate else node)
                negate, first = False, False
                continue
            cursor = start
            conjunction = None
            if not first:
                end = self.keyword(cursor, ("AND", "&&", "OR", "||"))
                if end is not None:
                    conjunction = self.text[cursor:end]
                    cursor = self.ws(end)
            modifier = None
            end = self.keyword(cursor, ("+", "NOT", "-"))
            if end is not None:
                modifier = self.text[cursor:end]
                cursor = self.ws(end)
            clause = self.clause(cursor, field)
            if clause is None:
                break
            if conjunction in ("OR", "||"):
                groups.append(_boolean("and", group))
                group = []
            node, pos = clause
            if modifier in ("NOT", "-"):
                node = _Node("not", children=(node,))
            group.append(node)
            first = False
        if first:
            raise ExprError(f"invalid Datadog query at {self.text[start:start + 20]!r}")
        groups.append(_boolean("and", group))
        return _boolean("or", groups), pos

    def multiterm(self, pos: int, field: str) -> tuple[_Node, int] | None:
        terms: list[str] = []
        end = pos
        while True:
            cursor = self.ws(end) if terms else end
            term_end = self.term(cursor)
            if term_end is None or not self.multiterm_lookahead(term_end):
                break
            terms.append(_unescape(self.text[cursor:term_end]))
            end = term_end
        if not terms:
            return None
        return _Node("term", field, " ".join(terms)), end

    def multiterm_lookahead(self, pos: int) -> bool:
        if pos < len(self.text) and self.text[pos] in ":*":
            return False
        after = self.ws(pos)
        if after > pos and self.keyword(after, ("AND", "&&", "OR", "||")) is not None:
            return False
        return True

    def clause(self, pos: int, default: str) -> tuple[_Node, int] | None:
        if self.text.startswith("*:*", pos):
            return _Node("all"), pos + 3
        field = None
        cursor = pos
        term_end = self.term(pos)
        if term_end is not None and self.text.startswith(":", term_end):
            field = self.text[pos:term_end]
            cursor = self.ws(term_end + 1)
        value = self.value(cursor, field or default)
        if value is not None:
            return value
        if self.text.startswith("(", cursor):
            node, end = self.query(cursor + 1, field or default)
            end = self.ws(end)
            if self.text.startswith(")", end):
                return node, end + 1
        return None

    def value(self, pos: int, field: str) -> tuple[_Node, int] | None:
        text = self.text
        attr = _unescape(field)
        if text.startswith("*", pos) and self.at_end(pos + 1):
            if field == _DEFAULT_FIELD:
                return _Node("all"), pos + 1
            return _Node("wildcard", attr, "*"), pos + 1
        end = self.phrase(pos)
        if end is not None:
            phrase = _unescape(text[pos + 1:end - 1])
            return self.special(field, phrase) or _Node("term", attr, phrase), end
        end = self.prefix(pos)
        if end is not None:
            return _Node("prefix", attr, _unescape(text[pos:end - 1])), end
        found = self.comparison(pos, attr)
        if found is not None:
            return found
        found = self.range(pos, attr)
        if found is not None:
            return found
        end = self.term(pos)
        if end is not None and self.at_end(end):
            term = _unescape(text[pos:end])
            return self.special(field, term) or _Node("term", attr, term), end
        end = self.glob(pos)
        if end is not None:
            return _Node("wildcard", attr, _unescape(text[pos:end])), end
        return None

    @staticmethod
    def special(field: str, value: str) -> _Node | None:
        if field == "_exists_":
            return _Node("exists", value)
        if field == "_missing_":
            return _Node("missing", value)
        return None

    def prefix(self, pos: int) -> int | None:
        end = self.start_char(pos)
        if end is None:
            return None
        while (nxt := self.term_char(end)) is not None:
            end = nxt
        if self.text.startswith("*", end) and self.at_end(end + 1):
            return end + 1
        return None

    def glob(self, pos: int) -> int | None:
        end = self.start_char(pos)
        if end is None and pos < len(self.text) and self.text[pos] in "*?":
            end = pos + 1
        if end is None:
            return None
        while (nxt := self.term_char(end, glob=True)) is not None:
            end = nxt
        return end if self.at_end(end) else None

    def comparison(self, pos: int, attr: str) -> tuple[_Node, int] | None:
        for op in (">=", "<=", ">", "<"):
            if self.text.startswith(op, pos):
                start = pos + len(op)
                number = re.compile(r"(?:-|\\-)?\d+(?:\.\d+)?(?:E(?:-|\\-)?\d+(?:\.\d+)?)?").match(self.text, start)
                end = number.end() if number else self.term(start)
                if end is None:
                    return None
                return _Node("compare", attr, _comparison_value(self.text[start:end]), op), end
        return None

    def range(self, pos: int, attr: str) -> tuple[_Node, int] | None:
        match = re.compile(r"([\[{])\s*([^\s\]}]+)\s+TO\s+([^\s\]}]+)\s*([\]}])").match(self.text, pos)
        if match is None:
            return None
        lower, upper = _comparison_value(match.group(2)), _comparison_value(match.group(3))
        return _Node("range", attr, (lower, match.group(1) == "["), (upper, match.group(4) == "]")), match.end()


def _comparison_value(text: str) -> Any:
    value = _unescape(text)
    if len(value) > 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    if value == "*":
        return None  # unbounded
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


# -- matching --------------------------------------------------------------------------------------------

def _fields(attr: str) -> list[tuple[str, str]]:
    """``(kind, name)`` of the fields an attribute name stands for (VRL's ``normalize_fields``)."""
    if attr == _DEFAULT_FIELD:
        return [("default", f) for f in _DEFAULT_FIELDS]
    name = attr.replace("@", ".")
    if attr.startswith("@"):
        return [("attribute", name)]
    if name in _DEFAULT_FIELDS:
        return [("default", name)]
    if name in _RESERVED:
        return [("reserved", name)]
    return [("tag", name)]


_SEGMENT = re.compile(r'"((?:[^"\\]|\\.)*)"|([\w@\-]+)')


@functools.lru_cache(maxsize=1024)
def _path(name: str) -> tuple[str, ...]:
    """The segments of a field path (``a.b``, ``."a-b"``); anything else is an invalid query."""
    segments: list[str] = []
    pos = 1 if name.startswith(".") else 0
    while pos < len(name):
        match = _SEGMENT.match(name, pos)
        if match is None or (match.end() < len(name) and name[match.end()] != "."):
            raise ExprError(f'invalid argument "query": failed to build matcher for field {name.lstrip(".")!r}')
        segments.append(_unescape(match.group(1)) if match.group(1) is not None else match.group(2))
        pos = match.end() + 1
    return tuple(segments)


def _lookup(obj: Any, kind: str, name: str) -> tuple[bool, Any]:
    path = ("tags",) if kind == "tag" else _path(name)
    value = obj
    for part in path:
        if type(value) is not dict or part not in value:
            return False, None
        value = value[part]
    return True, value


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is float:
        return float_text(value)
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return display(value)


def _word(pattern: str) -> Any:
    return re.compile(r"\b" + re.escape(pattern).replace(r"\*", ".*") + r"\b")


def _whole(pattern: str) -> Any:
    return re.compile("^" + re.escape(pattern).replace(r"\*", ".*") + "$", re.S)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _leaf(node: _Node, kind: str, name: str) -> Callable[[Any], bool]:
    """The test of one field's value (VRL's ``VrlFilter``)."""
    k, value = node.kind, node.value
    if k == "exists":
        if kind == "tag":
            return lambda v: type(v) is list and any(_text(i) == name or _text(i).startswith(f"{name}:") for i in v)
        if kind == "reserved" and name == "tags":
            return lambda v: type(v) is list and len(v) > 0
        return lambda v: True
    if k == "term":
        if kind == "default":
            word = _word(value)
            return lambda v: type(v) is str and word.search(v) is not None
        if kind == "reserved" and name == "tags":
            return lambda v: type(v) is list and value in v
        if kind == "tag":
            tagged = f"{name}:{value}"
            return lambda v: type(v) is list and tagged in v
        return lambda v: _text(v) == value
    if k == "prefix":
        if kind == "default":
            word = _word(f"{value}*")
            return lambda v: word.search(_text(v)) is not None
        if kind == "tag":
            start = f"{name}:{value}"
            return lambda v: type(v) is list and any(_text(i).startswith(start) for i in v)
        return lambda v: _text(v).startswith(value)
    if k == "wildcard":
        if kind == "default":
            word = _word(value)
            return lambda v: word.search(_text(v)) is not None
        if kind == "tag":
            whole = _whole(f"{name}:{value}")
            return lambda v: type(v) is list and any(whole.search(_text(i)) for i in v)
        whole = _whole(value)
        return lambda v: whole.search(_text(v)) is not None
    # compare
    op, right = node.extra, value
    rhs = float_text(right) if type(right) is float else str(right)
    if kind == "attribute":
        def attribute(v: Any) -> bool:
            if type(v) in (int, float) and type(right) in (int, float):
                return _compare(op, v, right)
            return _compare(op, _text(v), rhs)
        return attribute
    if kind == "tag":
        return lambda v: type(v) is list and any(
            ":" in _text(i) and _compare(op, _text(i).split(":", 1)[1], rhs) for i in v)
    return lambda v: _compare(op, _text(v), rhs)


def _field_matcher(node: _Node, kind: str, name: str) -> Matcher:
    if kind != "tag":
        _path(name)
    test = _leaf(node, kind, name)

    def match(obj: Any) -> bool:
        present, value = _lookup(obj, kind, name)
        return present and test(value)
    return match


def _build(node: _Node) -> Matcher:
    k = node.kind
    if k == "all":
        return lambda obj: True
    if k == "none":
        return lambda obj: False
    if k == "not":
        inner = _build(node.children[0])
        return lambda obj: not inner(obj)
    if k in ("and", "or"):
        parts = [_build(c) for c in node.children]
        return (lambda obj: all(p(obj) for p in parts)) if k == "and" else (lambda obj: any(p(obj) for p in parts))
    if k == "missing":
        present = [_field_matcher(_Node("exists", node.attr), kind, name) for kind, name in _fields(node.attr)]
        return lambda obj: not any(p(obj) for p in present)
    if k == "range":
        (lower, lower_in), (upper, upper_in) = node.value, node.extra
        bounds = []
        if lower is not None:
            bounds.append(_Node("compare", node.attr, lower, ">=" if lower_in else ">"))
        if upper is not None:
            bounds.append(_Node("compare", node.attr, upper, "<=" if upper_in else "<"))
        if not bounds:
            return _build(_Node("exists", node.attr))
        return _build(_Node("and", children=tuple(bounds)))
    matchers = [_field_matcher(node, kind, name) for kind, name in _fields(node.attr)]
    return lambda obj: any(m(obj) for m in matchers)


@functools.lru_cache(maxsize=256)
def _query(text: str) -> Matcher:
    parser = _Parser(text)
    node, end = parser.query(0, _DEFAULT_FIELD)
    if parser.ws(end) != len(text):
        raise ExprError(f"invalid Datadog query: unexpected {text[end:end + 20]!r}")
    if node.kind == "not" and node.children[0].kind == "all":
        node = _Node("none")
    return _build(node)


@function(FUNCTIONS, "match_datadog_query", Param("value", kinds("object")), Param("query", kinds("string")),
          returns=kinds("boolean"),
          example='match_datadog_query({"message": "contains this and that"}, "this OR that") == true')
def match_datadog_query(value: dict[str, Any], query: str) -> bool:
    """Whether the object matches a Datadog log search query (``@attr:value``, ``tag:value``, AND/OR/NOT...)."""
    return _query(query)(value)
