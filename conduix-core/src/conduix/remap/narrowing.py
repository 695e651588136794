"""What an ``if`` condition tells about paths inside each branch (``if is_string(.a) { upcase(.a) }``).

Understood conditions: ``is_<kind>(path)`` (``is_string``, ``is_object``...),
``path == null`` / ``path != null``, ``!cond``, ``a && b`` (both hold in the
``then`` branch) and ``a || b`` (neither holds in the ``else`` branch). Inside
the branch the path's type is narrowed, so calls on it need no ``!``.
"""

from __future__ import annotations

from collections.abc import Callable

from conduix.remap import nodes as n
from conduix.remap.static import State
from conduix.remap.typedefs import Type

__all__ = ["narrowed"]

_TESTS = {
    "is_string": "string", "is_integer": "integer", "is_float": "float", "is_boolean": "boolean",
    "is_null": "null", "is_array": "array", "is_object": "object", "is_timestamp": "timestamp",
    "is_regex": "regex",
}

Narrowing = tuple[n.Query, Callable[[Type], Type]]


def _facts(node: n.Node, positive: bool) -> list[Narrowing]:
    if isinstance(node, n.Block):  # if (a; b; cond)
        return _facts(node.exprs[-1], positive) if node.exprs else []
    if isinstance(node, n.Unary) and node.op == "!":
        return _facts(node.operand, not positive)
    if isinstance(node, n.Binary):
        if node.op == "&&" and positive:
            return _facts(node.left, True) + _facts(node.right, True)
        if node.op == "||" and not positive:
            return _facts(node.left, False) + _facts(node.right, False)
        if node.op in ("==", "!=") and isinstance(node.right, n.Literal) and node.right.value is None \
                and isinstance(node.left, n.Query) and node.left.target != "expr":
            is_null = (node.op == "==") == positive
            if is_null:
                return [(node.left, lambda t: t.narrow(frozenset({"null"})))]
            return [(node.left, lambda t: t.without("null"))]
        return []
    if isinstance(node, n.Call) and node.name in _TESTS and not node.bang and len(node.args) == 1:
        arg = node.args[0][1]
        if isinstance(arg, n.Query) and arg.target != "expr":
            kind = frozenset({_TESTS[node.name]})
            if positive:
                return [(arg, lambda t: t.narrow(kind))]
            return [(arg, lambda t: t.narrow(t.kinds - kind))]
    return []


def narrowed(state: State, condition: n.Node, positive: bool) -> State:
    """``state`` (a copy the caller owns) with what ``condition`` being ``positive`` implies."""
    for query, narrow in _facts(condition, positive):
        segs = tuple(query.segments)
        if len(segs) > 1 and "null" in narrow(Type(frozenset({"null"}))).kinds:
            continue  # a null below a path says nothing of the containers above it
        if query.target == "var":
            name = query.name or ""
            if name not in state.variables:
                continue
            current = state.variables[name]
            state.variables[name] = current.set(segs, narrow(current.get(segs))) if segs else narrow(current)
        else:
            root = state.root(query.target)
            if segs:
                state.set_root(query.target, root.set(segs, narrow(root.get(segs))))
    return state
