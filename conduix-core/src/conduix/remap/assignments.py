"""Compiling assignments: ``target = value``, ``target |= value`` and ``ok, err = value``.

A mixin of the compiler, kept apart to keep modules small. Values are copied on
assignment only when they may share containers with another place
(``.b = .a``), so that changing one later never changes the other, as with
VRL's value semantics; object and array literals of fresh values are not
copied. The static type of the target is updated as VRL does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conduix.errors import RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.codegen import set_event, variable
from conduix.remap.functions.spec import FunctionSpec
from conduix.remap.parser import RESERVED
from conduix.remap.paths import clone, set_path
from conduix.remap.regex import compile_regex
from conduix.remap.static import State
from conduix.remap.typedefs import NULL, STRING, Type, of_value, union
from conduix.remap.values import UTC, ExprError, kind_of

if TYPE_CHECKING:
    from conduix.remap.codegen import Emit, Gen
    from conduix.remap.compiler import Out

__all__ = ["AssignmentCompiler", "default_of"]

Fn = Callable[[list[Any]], Any]
Setter = Callable[[list[Any], Any], None]
_CONTAINERS = (dict, list)

_DEFAULTS: dict[str, Callable[[], Any]] = {
    "string": lambda: "", "integer": lambda: 0, "float": lambda: 0.0, "boolean": lambda: False,
    "timestamp": lambda: datetime(1970, 1, 1, tzinfo=UTC), "regex": lambda: compile_regex(""),
    "array": list, "object": dict,
}


def default_of(type_: Type) -> Any:
    """What the ``ok`` target of ``ok, err = expr`` holds when ``expr`` fails: the empty value of its kind
    when it has exactly one kind (``""``, ``0``, ``0.0``, ``false``, ``[]``, ``{}``...), else ``null``."""
    if len(type_.kinds) == 1:
        make = _DEFAULTS.get(next(iter(type_.kinds)))
        if make is not None:
            return make()
    return None


class AssignmentCompiler:
    """Assignment methods of the compiler (see :mod:`conduix.remap.compiler`)."""

    source: str
    state: State
    functions: Mapping[str, FunctionSpec]
    uses_vars: bool
    uses_meta: bool
    _stored: bool
    assigned: dict[str, n.Node]
    closures: dict[Fn, n.Node]
    moved: set[int]

    if TYPE_CHECKING:  # provided by the compiler class this mixes into
        def error(self, message: str, node: n.Node, hint: str | None = None) -> RemapCompileError:
            raise NotImplementedError

        def compile(self, node: n.Node) -> Out:
            raise NotImplementedError

        def require_handled(self, out: Out, where: str, node: n.Node) -> None:
            raise NotImplementedError

        def call_into(self, node: n.Call, store: str | None) -> Out:
            raise NotImplementedError

    # -- targets ----------------------------------------------------------------

    def _check_parents(self, root: Type, segs: tuple[n.Segment, ...], target: n.Node) -> None:
        """VRL refuses ``x.a = 1`` when ``x`` can only be something else than an object (an array for ``[0]``)."""
        for i, seg in enumerate(segs):
            parent = root.get(segs[:i])
            need = "object" if type(seg) is str else "array"
            if parent.kinds and need not in parent.kinds and "null" not in parent.kinds:
                where = n.Query(0, 0, getattr(target, "target", "var"), list(segs[:i]),
                                name=getattr(target, "name", None)).text()
                raise self.error(f"parent path segment rejects this mutation: {where} is "
                                 f"{parent.text()}, not an {need}", target,
                                 f"assign an {need} to {where} first, or write to another path")

    def _setter(self, target: n.Node, value_type: Type) -> Setter | None:
        """A closure storing a value into ``target`` (``None`` for ``_``); updates the static types."""
        if isinstance(target, n.Underscore):
            return None
        if not isinstance(target, n.Query) or target.target == "expr":
            raise self.error("can only assign to a path, a metadata path, a variable or _", target)
        segs = tuple(target.segments)
        if target.target == "var":
            name = target.name or ""
            if name in RESERVED:
                raise self.error("reserved keyword", target,
                                 "this name is reserved for future use in VRL: use another name")
            self.uses_vars = True
            self.assigned.setdefault(name, target)
            current = self.state.variables.get(name, NULL)
            self._check_parents(current, segs, target)
            self.state.variables[name] = current.set(segs, value_type)
            if not segs:
                def set_var(c: list[Any], v: Any) -> None:
                    c[2][name] = v
                return set_var

            def set_var_path(c: list[Any], v: Any) -> None:
                variables = c[2]
                variables[name] = set_path(variables.get(name), segs, v)
            return set_var_path
        slot = 0 if target.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        root = self.state.root(target.target)
        self._check_parents(root, segs, target)
        self.state.set_root(target.target, root.set(segs, value_type))
        if not segs:
            if slot == 0:
                def set_root(c: list[Any], v: Any) -> None:
                    c[0] = v
                return set_root
            line, column = target.line, target.column

            def set_meta_root(c: list[Any], v: Any) -> None:
                if type(v) is not dict:
                    raise ExprError(f"the metadata root must be an object, got {kind_of(v)}", line, column)
                c[1] = v
            return set_meta_root
        if len(segs) == 1 and type(segs[0]) is str and root.kinds == {"object"}:
            field = segs[0]

            def set_field(c: list[Any], v: Any) -> None:
                c[slot][field] = v
            return set_field

        def set_deep(c: list[Any], v: Any) -> None:
            c[slot] = set_path(c[slot], segs, v)
        return set_deep

    # -- sharing ------------------------------------------------------------------

    def shares(self, node: n.Node) -> bool:
        """Whether the value of ``node`` may hold containers that another place also holds."""
        if id(node) in self.moved:
            return False  # read from a place that dies with the assignment (ownership.moved_reads)
        if isinstance(node, (n.Literal, n.Unary, n.Abort, n.Return)):
            return False
        if isinstance(node, (n.Array, n.Object)):
            return False  # a new container; its items that may be shared are copied into it (literal_item)
        if isinstance(node, n.Call):
            if node.name == "del" and node.args:  # hands over what it removes from the event or a variable
                path = node.args[0][1]
                return not (isinstance(path, n.Query) and path.target in ("event", "var"))
            spec = self.functions.get(node.name)
            if spec is not None and spec.returns_argument:
                return not node.args or self.shares(node.args[0][1])
            return spec is None or not spec.fresh
        if isinstance(node, n.Query):
            return node.target != "expr" or node.base is None or self.shares(node.base)
        if isinstance(node, n.Binary):
            if node.op in ("??", "||", "|"):
                return self.shares(node.left) or self.shares(node.right)
            return False
        if isinstance(node, n.Block):
            return bool(node.exprs) and self.shares(node.exprs[-1])
        if isinstance(node, n.If):
            return self.shares(node.then) or (node.otherwise is not None and self.shares(node.otherwise))
        return True

    def literal_item(self, node: n.Node, out: Out) -> Out:
        """An item of an array or object literal: a copy of its containers when they may be shared, so that
        the literal shares nothing (whoever gets it may change it)."""
        if not out.type.can_be(("array", "object")) or not self.shares(node):
            return out
        from conduix.remap.compiler import Out

        def emit(g: Gen) -> str:
            v = g.bind(g.value(out.emit, out.fn))
            g.add(f"if type({v}) in _containers:")
            g.add(f"    {v} = _clone({v})")
            return v
        return Out(self._copying(node, out), out.type, out.fall, out.blame, out.const, emit)

    def _copying(self, node: n.Node, out: Out) -> Fn:
        """``out``'s closure, copying its containers when they may be shared."""
        if not out.type.can_be(("array", "object")) or not self.shares(node):
            return out.fn
        raw = out.fn

        def copied(c: list[Any]) -> Any:
            v = raw(c)
            return clone(v) if type(v) in _CONTAINERS else v
        return copied

    # -- assignment -------------------------------------------------------------

    def _merged_value(self, node: n.Assign) -> n.Node:
        """``a |= b`` is ``a = a | b``, as in VRL."""
        if not isinstance(node.target, n.Query) or node.target.target == "expr":
            raise self.error("can only merge into a path, a metadata path or a variable", node.target)
        return n.Binary(node.target.line, node.target.column, "|", node.target, node.value, start=node.start,
                        end=node.end)

    def _c_assign(self, node: n.Assign) -> Out:
        from conduix.remap.compiler import Out

        if node.err_target is not None:
            return self._assign_err(node)
        value_node = self._merged_value(node) if node.op == "|=" else node.value
        store = self._store_target(node)
        if store is not None:
            assert isinstance(node.value, n.Call)
            self._stored = False
            value = self.call_into(node.value, store)
            self.closures[value.fn] = node.value
            self.require_handled(value, "assignment", node.value)
            if self._stored:
                emit = self._assign_emit(node.target, value, False)
                self._setter(node.target, value.type)  # static types only; the call stores the value
                return Out(value.fn, value.type, value.fall, value.blame, emit=emit)
        else:
            value = self.compile(value_node)
            self.require_handled(value, "assignment", node.value)
        copy = value.type.can_be(("array", "object")) and self.shares(value_node)
        fn = self._copying(value_node, value)
        fused = self._fused_assign(node.target, fn)
        emit = self._assign_emit(node.target, value, copy)
        setter = self._setter(node.target, value.type)
        if fused is not None:
            return Out(fused, value.type, value.fall, value.blame, emit=emit)
        if setter is None:
            return Out(fn, value.type, value.fall, value.blame, emit=emit)

        def assign(c: list[Any]) -> Any:
            v = fn(c)
            setter(c, v)
            return v
        return Out(assign, value.type, value.fall, value.blame, emit=emit)

    def _assign_emit(self, target: n.Node, value: Out, copy: bool) -> Emit | None:
        """The Python of ``target = value`` (for the generated top level); the state is the one before.

        Names from the program only ever enter the generated text through ``repr``.
        """
        store: Callable[[str], list[str]]
        if isinstance(target, n.Underscore):
            store = lambda v: []  # noqa: E731
        elif not isinstance(target, n.Query) or target.target == "expr":
            return None
        else:
            segs = tuple(target.segments)
            single = len(segs) == 1 and type(segs[0]) is str
            if target.target == "var":
                held = variable(target.name or "", assigned=True)
                if not segs:
                    store = lambda v: [f"{held} = {v}"]  # noqa: E731
                else:  # a path into a variable not assigned yet starts from null, as a dict entry's .get gives
                    was = variable(target.name or "") if target.name in self.state.variables else "None"
                    store = lambda v: [f"{held} = _set_path({was}, {segs!r}, {v})"]  # noqa: E731
            elif target.target == "meta":  # the metadata root stays an object: the closure checks it
                if not segs:
                    return None
                if single:
                    store = lambda v: [f"c[1][{segs[0]!r}] = {v}"]  # noqa: E731
                else:
                    store = lambda v: [f"c[1] = _set_path(c[1], {segs!r}, {v})"]  # noqa: E731
            elif not segs:
                store = lambda v: [set_event(v)]  # noqa: E731
            elif single and self.state.event.kinds == {"object"}:
                store = lambda v: [f"e[{segs[0]!r}] = {v}"]  # noqa: E731
            elif single:
                store = lambda v: ["if type(e) is dict:", f"    e[{segs[0]!r}] = {v}", "else:",  # noqa: E731
                                   "    " + set_event(f"{{{segs[0]!r}: {v}}}")]
            else:
                store = lambda v: [set_event(f"_set_path(e, {segs!r}, {v})")]  # noqa: E731

        def emit(g: Gen) -> str:
            v = g.bind(g.value(value.emit, value.fn))
            if copy:
                g.add(f"if type({v}) in _containers:")
                g.add(f"    {v} = _clone({v})")
            g.store_point()
            for line in store(v):
                g.add(line)
            return v
        return emit

    def _store_target(self, node: n.Assign) -> str | None:
        """The event field (``""``: the root) a call may store into directly, for ``.x = f!(...)``."""
        target, value = node.target, node.value
        if node.op != "=" or not isinstance(value, n.Call) or not isinstance(target, n.Query):
            return None
        spec = self.functions.get(value.name)
        if spec is None or not spec.fresh or target.target != "event":
            return None
        if not target.segments:
            return ""
        if len(target.segments) == 1 and type(target.segments[0]) is str and "object" in self.state.event.kinds:
            return target.segments[0]
        return None

    def _fused_assign(self, target: n.Node, value: Fn) -> Fn | None:
        """One closure for the hot cases ``.field = ...`` and ``. = ...``."""
        if not isinstance(target, n.Query) or target.target != "event":
            return None
        segs = target.segments
        if len(segs) == 1 and type(segs[0]) is str and "object" in self.state.event.kinds:
            field = segs[0]
            if self.state.event.kinds == {"object"}:
                def assign_event_field(c: list[Any]) -> Any:
                    v = value(c)
                    c[0][field] = v
                    return v
                return assign_event_field

            def assign_event_field_guarded(c: list[Any]) -> Any:
                v = value(c)
                event = c[0]
                if type(event) is dict:
                    event[field] = v
                else:  # the root was set to something else than an object: a field write makes it one
                    c[0] = {field: v}
                return v
            return assign_event_field_guarded
        if not segs:
            def assign_root(c: list[Any]) -> Any:
                v = value(c)
                c[0] = v
                return v
            return assign_root
        return None

    def _assign_err(self, node: n.Assign) -> Out:
        from conduix.remap.compiler import Out

        assert node.err_target is not None
        value_node = self._merged_value(node) if node.op == "|=" else node.value
        value = self.compile(value_node)
        if value.fall == 0:
            raise self.error("unnecessary error assignment: this expression can't fail", node.err_target,
                             "assign to the first target alone, without the error")
        default = default_of(value.type)
        ok_set = self._setter(node.target, union(value.type, of_value(default)))
        err_set = self._setter(node.err_target, union(STRING, NULL))
        fn = self._copying(value_node, value)

        def assign_err(c: list[Any]) -> Any:
            try:
                v = fn(c)
            except ExprError as exc:
                message = exc.full_message()
                if ok_set is not None:
                    ok_set(c, clone(default))
                if err_set is not None:
                    err_set(c, message)
                return message  # as VRL: the expression's value is the error then
            if ok_set is not None:
                ok_set(c, v)
            if err_set is not None:
                err_set(c, None)
            return v
        return Out(assign_err, union(value.type, STRING))
