"""Run the remap grammar's LALR(1) tables, as lark's LALR parser and basic lexer do, without importing lark.

lark builds the tables (``tools/remap_parser_tables.py``, or :func:`conduix.remap.parser.tables_data` when
they are stale); importing lark itself costs a ``conduix run`` about 40 ms of CPU at every start (its
Earley parsers, grammar loader and the ``regex`` module come with it), so the running side lives here. It
reproduces what the remap parser used of lark with ``parser="lalr", lexer="basic",
propagate_positions=True, maybe_placeholders=False``: the lexer (terminals tried in lark's order, keywords
retyped from names, lines counted), the shift/reduce loop, and the parse tree lark would build (``_rule``
and ``?rule`` inlining, filtered ``_TOKENS``, positions in ``meta``); a test compares both on a corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Meta", "Parser", "Token", "Tree", "UnexpectedCharacters", "UnexpectedInput", "UnexpectedToken"]


class Token(str):
    """A lexed token: its text, its type and where it is (lark's ``Token``)."""

    __slots__ = ("column", "end_column", "end_line", "end_pos", "line", "start_pos", "type")

    type: str
    start_pos: int | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    def __new__(cls, type: str, value: str, start_pos: int | None = None, line: int | None = None,
                column: int | None = None, end_line: int | None = None, end_column: int | None = None,
                end_pos: int | None = None) -> Token:
        token = super().__new__(cls, value)
        token.type = type
        token.start_pos, token.line, token.column = start_pos, line, column
        token.end_line, token.end_column, token.end_pos = end_line, end_column, end_pos
        return token

    @property
    def value(self) -> str:
        return str(self)

    @classmethod
    def new_borrow_pos(cls, type_: str, value: str, borrow: Token) -> Token:
        return cls(type_, value, borrow.start_pos, borrow.line, borrow.column, borrow.end_line, borrow.end_column,
                   borrow.end_pos)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Token) and self.type != other.type:
            return False
        return str.__eq__(self, other)

    __hash__ = str.__hash__


class Meta:
    """Where a rule's text is (set when it covers any token): line, column, start_pos, end_*."""

    empty = True


class Tree:
    """A node of the parse tree: the rule (or its alias), its children and its meta."""

    __slots__ = ("children", "data", "meta")

    def __init__(self, data: str, children: list[Any]) -> None:
        self.data = data
        self.children = children
        self.meta = Meta()

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


class UnexpectedInput(Exception):
    line: int | None
    column: int | None
    pos_in_stream: int | None


class UnexpectedCharacters(UnexpectedInput):
    """No terminal matches the text at ``pos_in_stream``."""

    def __init__(self, pos: int, line: int, column: int) -> None:
        super().__init__(f"no terminal matches the text at line {line} col {column}")
        self.pos_in_stream, self.line, self.column = pos, line, column


class UnexpectedToken(UnexpectedInput):
    """``token`` cannot come here; ``expected`` are the terminals that could."""

    def __init__(self, token: Token, expected: set[str]) -> None:
        super().__init__(f"unexpected token {token!r}, expected one of {sorted(expected)}")
        self.token, self.expected = token, expected
        self.line, self.column, self.pos_in_stream = token.line, token.column, token.start_pos


def _first_meta(children: Iterator[Any] | list[Any]) -> Any:
    for child in children:
        if isinstance(child, Tree):
            if not child.meta.empty:
                return child.meta
        elif isinstance(child, Token):
            return child
    return None


def _propagate(meta: Meta, children: list[Any]) -> None:
    """lark's PropagatePositions: a node spans its first to its last child's container (inlined rules and
    filtered tokens included)."""
    first = _first_meta(children)
    if first is not None:
        line = getattr(first, "container_line", first.line)
        column = getattr(first, "container_column", first.column)
        start = getattr(first, "container_start_pos", first.start_pos)
        if not hasattr(meta, "line"):
            meta.line, meta.column, meta.start_pos, meta.empty = line, column, start, False  # type: ignore[attr-defined]
        meta.container_line, meta.container_column, meta.container_start_pos = line, column, start  # type: ignore[attr-defined]
    last = _first_meta(reversed(children))
    if last is not None:
        line = getattr(last, "container_end_line", last.end_line)
        column = getattr(last, "container_end_column", last.end_column)
        end = getattr(last, "container_end_pos", last.end_pos)
        if not hasattr(meta, "end_line"):
            meta.end_line, meta.end_column, meta.end_pos, meta.empty = line, column, end, False  # type: ignore[attr-defined]
        meta.container_end_line, meta.container_end_column, meta.container_end_pos = line, column, end  # type: ignore[attr-defined]


def _builder(name: str, expand1: bool, include: tuple[tuple[int, bool], ...] | None) -> Callable[[list[Any]], Any]:
    """The node of one rule from the values it reduces (lark's ParseTreeBuilder wrapper chain)."""

    def build(children: list[Any]) -> Any:
        if include is None:
            kept = children
        else:
            kept = []
            for index, expand in include:
                if expand:
                    kept += children[index].children
                else:
                    kept.append(children[index])
        result = kept[0] if expand1 and len(kept) == 1 else Tree(name, kept)
        if isinstance(result, Tree):
            _propagate(result.meta, children)
        return result

    return build


class Parser:
    """The lexer and the LALR(1) parser of one set of tables (see :func:`conduix.remap.parser.tables_data`)."""

    def __init__(self, tables: dict[str, Any], postlex: Any = None) -> None:
        self._scanner = re.compile("|".join(f"(?P<{name}>{regexp})" for name, regexp in tables["terminals"]))
        self._keywords: dict[str, dict[str, str]] = tables["keywords"]
        self._newline_types = frozenset(tables["newline_types"])
        self._ignore = frozenset(tables["ignore"])
        self._states: list[dict[str, int]] = tables["states"]
        self._start: int = tables["start"]
        self._end: int = tables["end"]
        self._rules = [(origin, size, _builder(name, expand1, include))
                       for origin, size, name, expand1, include in tables["rules"]]
        self._postlex = postlex

    def lex(self, text: str) -> Iterator[Token]:
        match = self._scanner.match
        pos, line, line_start, size = 0, 1, 0, len(text)
        while pos < size:
            found = match(text, pos)
            if found is None:
                raise UnexpectedCharacters(pos, line, pos - line_start + 1)
            value, kind = found.group(0), found.lastgroup
            assert kind is not None
            start, start_line, start_column = pos, line, pos - line_start + 1
            if kind in self._newline_types:
                newlines = value.count("\n")
                if newlines:
                    line += newlines
                    line_start = pos + value.rindex("\n") + 1
            pos += len(value)
            if kind in self._ignore:
                continue
            kind = self._keywords.get(kind, {}).get(value, kind)
            yield Token(kind, value, start, start_line, start_column, line, pos - line_start + 1, pos)

    def parse(self, text: str) -> Any:
        tokens = self.lex(text)
        if self._postlex is not None:
            tokens = self._postlex.process(tokens)
        states, rules = self._states, self._rules
        state_stack = [self._start]
        value_stack: list[Any] = []
        token: Token | None = None

        def feed(token: Token, is_end: bool) -> Any:
            while True:
                actions = states[state_stack[-1]]
                action = actions.get(token.type)
                if action is None:
                    raise UnexpectedToken(token, {name for name in actions if name.isupper()})
                if action >= 0:  # shift
                    state_stack.append(action)
                    value_stack.append(token)
                    return None
                origin, size, build = rules[~action]  # reduce
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                state_stack.append(states[state_stack[-1]][origin])
                value_stack.append(build(children))
                if is_end and state_stack[-1] == self._end:
                    return value_stack[-1]

        for token in tokens:
            feed(token, False)
        end = Token.new_borrow_pos("$END", "", token) if token is not None else Token("$END", "", 0, 1, 1)
        return feed(end, True)
