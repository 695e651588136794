"""The syntax tree of a remap program, as built by :mod:`conduix.remap.parser`.

Every node carries the ``line`` and ``column`` (both 1-based) where it starts,
so compile errors and runtime errors can point into the source, and its
``start``/``end`` character offsets (VRL reports function-call errors with
the byte span of the call, ``at (10:24)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Abort",
    "Array",
    "Assign",
    "Binary",
    "Block",
    "Call",
    "Closure",
    "If",
    "Literal",
    "Node",
    "Object",
    "Query",
    "Return",
    "Segment",
    "Unary",
    "Underscore",
]

Segment = str | int
"""A path segment: a field name or an array index (negative counts from the end)."""


@dataclass
class Node:
    line: int
    column: int
    start: int = field(default=0, kw_only=True)
    end: int = field(default=0, kw_only=True)
    grouped: bool = field(default=False, kw_only=True)
    """Written in parentheses (``(a < b) < c`` is not a chained comparison)."""


@dataclass
class Literal(Node):
    value: Any


@dataclass
class Query(Node):
    """A path into the event (``target="event"``), the metadata (``"meta"``), a variable
    (``"var"``, ``name`` set) or the result of another expression (``"expr"``, ``base`` set)."""

    target: str
    segments: list[Segment]
    name: str | None = None
    base: Node | None = None

    def text(self) -> str:
        prefix = {"event": ".", "meta": "%", "var": self.name or "", "expr": "(...)"}[self.target]
        out = prefix
        for seg in self.segments:
            if isinstance(seg, int):
                out += f"[{seg}]"
            else:
                if not (out.endswith(".") and len(out) == 1):
                    out += "."
                out += seg
        return out


@dataclass
class Underscore(Node):
    pass


@dataclass
class Array(Node):
    items: list[Node]


@dataclass
class Object(Node):
    pairs: list[tuple[str, Node]]


@dataclass
class Block(Node):
    """``{ a; b }`` (a scope of its own), the whole program, or ``if (a; b)``'s condition."""

    exprs: list[Node]


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class Assign(Node):
    """``target = value``, ``target |= value`` (``op="|="``) or ``ok, err = value``."""

    op: str
    target: Node
    value: Node
    err_target: Node | None = None


@dataclass
class If(Node):
    condition: Node
    then: Block
    otherwise: Node | None = None


@dataclass
class Abort(Node):
    message: Node | None = None


@dataclass
class Return(Node):
    """``return value``: ends the program (or the closure's run) with ``value``."""

    value: Node


@dataclass
class Closure(Node):
    params: list[str | None]
    body: Block


@dataclass
class Call(Node):
    name: str
    bang: bool
    args: list[tuple[str | None, Node]] = field(default_factory=list)
    closure: Closure | None = None
