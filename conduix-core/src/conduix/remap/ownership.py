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
from collections.abc import Iterator, Mapping
from typing import Literal

from conduix.remap import nodes as n
from conduix.remap.functions.spec import FunctionSpec

__all__ = ["CopyNeed", "effect_free", "input_copy", "moved_reads", "optimistic_prefix", "variables_in"]

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


def moved_reads(program: n.Block, functions: Mapping[str, FunctionSpec], *, binary: bool = False) -> set[int]:
    """The reads (``id`` of their :class:`~conduix.remap.nodes.Query`) whose value an assignment of the
    program's top level may take as it is, without the copy that keeps values unshared.

    Assignments copy a value read from a place that lives on (``.b = .a``), so that changing one later never
    changes the other. A top-level ``target = value`` need not when that place dies with it, and the value
    lands in one place only:

    - a variable that the assignment's target and every later statement never mention; or the event, when
      the assignment replaces the root (``. = {...}``) and no later statement writes below a top-level
      field (the original event may be the caller's record, which it passes on when the program fails
      later: with only top-level writes the new object's nested values are never changed in place), nor
      at all when the new root is a value of the original (``. = .a``);
    - the value holds the read (directly, as an item of a literal, through ``object!(...)``...) and no other
      read of the statement that it may hold overlaps its path (``{"a": .x, "b": .x.y}`` copies both);
    - ``value`` assigns, deletes, branches and runs closures nowhere (each of those is left as it was).
    """
    moved: set[int] = set()
    statements = program.exprs
    for k, statement in enumerate(statements):
        if not isinstance(statement, n.Assign) or statement.op != "=" or statement.err_target is not None:
            continue
        value = statement.value
        if any(isinstance(item, (n.Assign, n.Block, n.If, n.Closure, n.Abort, n.Return))
               or (isinstance(item, n.Call) and item.name == "del") for item in _walk(value)):
            continue
        tail = statements[k + 1:]
        later: set[str] = set(variables_in(statement.target))
        for other in tail:
            later |= variables_in(other)
        event_dies = not binary and _replaces_root(statement) and all(_writes(other) != "deep" for other in tail)
        # ``. = .a`` makes the original's ``.a`` the new root: then even a top-level write changes the original
        written_later = any(_writes(other) != "none" for other in tail)
        held = list(_held(value, functions))
        for query, movable, whole in held:
            if not movable or (not event_dies if query.target == "event" else query.name in later):
                continue
            if query.target == "event" and whole and written_later:
                continue
            if any(other is not query and other.target == query.target and other.name == query.name
                   and _overlap(other.segments, query.segments) for other, _, _ in held):
                continue
            moved.add(id(query))
    return moved


def effect_free(node: n.Node, functions: Mapping[str, FunctionSpec]) -> bool:
    """Whether evaluating ``node`` changes nothing but the program's plain variables: no write to the event
    or the metadata, no write below a variable (``x.a = ...``), no call of a function with effects (``del``,
    ``log``: :attr:`FunctionSpec.effects`) or with a closure, no ``abort`` or ``return``.

    Running such code twice from the start of a record gives what running it once does."""
    for item in _walk(node):
        if isinstance(item, n.Assign):
            if not all(_plain_variable(target) for target in (item.target, item.err_target)):
                return False
        elif isinstance(item, n.Call):
            spec = functions.get(item.name)
            if spec is None or spec.effects or item.closure is not None:
                return False
        elif isinstance(item, (n.Closure, n.Abort, n.Return)):
            return False
    return True


def optimistic_prefix(program: n.Block, functions: Mapping[str, FunctionSpec]) -> tuple[int, bool]:
    """How many top-level statements of ``program`` come before its first effect (:func:`effect_free`), and
    whether the statement after them is an assignment whose value has none (it runs up to its write).

    The batch loops read event fields and fields of object variables there with a subscript, and start the
    record over with ``.get`` reads when a field is missing (:class:`conduix.remap.codegen.Batched`)."""
    for k, statement in enumerate(program.exprs):
        if not effect_free(statement, functions):
            split = (isinstance(statement, n.Assign) and statement.err_target is None
                     and isinstance(statement.target, n.Query) and statement.target.target != "expr"
                     and effect_free(statement.value, functions))
            return k, split
    return len(program.exprs), False


def _plain_variable(target: n.Node | None) -> bool:
    """``x`` or ``_`` as an assignment target (or no target at all)."""
    return target is None or isinstance(target, n.Underscore) or (
        isinstance(target, n.Query) and target.target == "var" and not target.segments)


def _held(node: n.Node, functions: Mapping[str, FunctionSpec], whole: bool = True
          ) -> Iterator[tuple[n.Query, bool, bool]]:
    """The event and variable reads whose value ``node``'s value may hold; whether it holds that value
    itself (``.a``, an item ``{"x": .a}``, ``object!(.a)``: movable) or something that may share part of it
    (a function whose result is not fresh); and whether the value may be the read's value as a whole rather
    than an item of an array or object it builds (``.a``, ``.a ?? .b``, ``object!(.a)``, ``{"x": .a}.x``)."""
    if isinstance(node, n.Query):
        if node.target == "expr":
            if node.base is not None:
                yield from ((query, movable, whole) for query, movable, _ in _held(node.base, functions))
        elif node.target in ("event", "var"):
            yield node, True, whole
    elif isinstance(node, n.Array):
        for item in node.items:
            yield from _held(item, functions, False)
    elif isinstance(node, n.Object):
        for _, item in node.pairs:
            yield from _held(item, functions, False)
    elif isinstance(node, n.Binary):
        if node.op in ("??", "||", "|"):
            yield from _held(node.left, functions, whole)
            yield from _held(node.right, functions, whole)
    elif isinstance(node, n.Call):
        spec = functions.get(node.name)
        if spec is not None and spec.returns_argument:
            if node.args:
                yield from _held(node.args[0][1], functions, whole)
        elif spec is None or not spec.fresh:
            for item in _walk(node):
                if isinstance(item, n.Query) and item.target in ("event", "var"):
                    yield item, False, whole
    elif not isinstance(node, (n.Literal, n.Unary)):
        for item in _walk(node):
            if isinstance(item, n.Query) and item.target in ("event", "var"):
                yield item, False, whole


def _overlap(a: list[n.Segment], b: list[n.Segment]) -> bool:
    """Whether two paths from one root may reach the same value (one is, or may be, within the other);
    array indexes may meet whatever they are (``[-1]`` and ``[2]``)."""
    for x, y in zip(a, b):
        if x != y and not (type(x) is int and type(y) is int):
            return False
    return True


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
