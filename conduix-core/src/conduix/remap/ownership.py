"""How much of the incoming event a program can change: what a caller keeping the original must copy.

The ``remap`` stage passes a record the program failed on through unchanged, so it used to deep-copy every
record before running the program. Most programs never write into the event they receive: they replace the
root first (``. = parse_json!(.message)``, ``. = {...}``) and write into the new value, or they only set and
delete top-level fields. Values taken from the event are already copied when they are assigned (see
``AssignmentCompiler.shares``), and variables never alias the event, so only these statements reach it:

- an assignment to an event path (``.a = ...``, ``.a.b = ...``), and ``del`` of an event path,
- made before the first top-level, unconditional assignment to the root ``.``: after it the event is a
  value of the program's own.

:func:`input_copy` answers ``"none"`` (nothing to copy), ``"shallow"`` (only top-level fields are written or
deleted: a copy of the top-level object protects the original) or ``"deep"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

from conduix.remap import nodes as n

__all__ = ["CopyNeed", "input_copy", "variables_in"]

CopyNeed = Literal["none", "shallow", "deep"]
_ORDER: dict[CopyNeed, int] = {"none": 0, "shallow": 1, "deep": 2}


def input_copy(program: n.Block, *, binary: bool = False) -> CopyNeed:
    """What the caller must copy of the event to keep the original intact after running ``program``.

    ``binary``: the program may make bytes, which are made printable in place in the result at the end
    (a shallow copy would share the nested containers that this changes)."""
    need: CopyNeed = "none"
    for statement in program.exprs:
        if _replaces_root(statement) and _writes(statement.value) == "none":  # type: ignore[attr-defined]
            return need
        need = _most(need, _writes(statement))
        if need == "deep":
            return need
    if binary and need != "none":
        return "deep"
    return need


def variables_in(node: n.Node) -> frozenset[str]:
    """The variables ``node`` may read or write: those it names, and its closures' parameters."""
    names: set[str] = set()
    for item in _walk(node):
        if isinstance(item, n.Query) and item.target == "var" and item.name is not None:
            names.add(item.name)
        elif isinstance(item, n.Closure):
            names.update(p for p in item.params if p is not None)
    return frozenset(names)


def _replaces_root(node: n.Node) -> bool:
    return isinstance(node, n.Assign) and node.err_target is None and isinstance(node.target, n.Query) \
        and node.target.target == "event" and not node.target.segments


def _most(a: CopyNeed, b: CopyNeed) -> CopyNeed:
    return a if _ORDER[a] >= _ORDER[b] else b


def _event_path(node: n.Node | None) -> CopyNeed:
    """What writing at ``node`` (an assignment target, ``del``'s path) changes of the event."""
    if not isinstance(node, n.Query) or node.target != "event":
        return "none"  # variables and metadata never alias the event
    segments = node.segments
    if not segments:
        return "none"  # the root is replaced, the event itself is not changed
    return "shallow" if len(segments) == 1 and type(segments[0]) is str else "deep"


def _writes(node: n.Node) -> CopyNeed:
    need: CopyNeed = "none"
    for item in _walk(node):
        if isinstance(item, n.Assign):
            need = _most(need, _most(_event_path(item.target), _event_path(item.err_target)))
        elif isinstance(item, n.Call) and item.name == "del" and item.args:
            need = _most(need, _event_path(item.args[0][1]))
        if need == "deep":
            break
    return need


def _walk(node: n.Node) -> Iterator[n.Node]:
    yield node
    for f in dataclasses.fields(node):
        yield from _nodes_in(getattr(node, f.name))


def _nodes_in(value: object) -> Iterator[n.Node]:
    if isinstance(value, n.Node):
        yield from _walk(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _nodes_in(item)
