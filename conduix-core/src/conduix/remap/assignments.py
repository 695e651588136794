"""Compiling assignments: ``target = value``, ``target |= value`` and ``ok, err = value``.

A mixin of the compiler, kept apart to keep modules small. Values are copied on
assignment when they may be shared with another place (``.b = .a``), so that
changing one later never changes the other, as with VRL's value semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conduix.errors import RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.functions.spec import FunctionSpec
from conduix.remap.paths import clone, set_path
from conduix.remap.static import Key, StaticState, union_kinds
from conduix.remap.values import KIND_DEFAULTS, ExprError, Kinds, kind_of, kinds

__all__ = ["AssignmentCompiler"]

Fn = Callable[[list[Any]], Any]
_CONTAINERS = (dict, list)


class AssignmentCompiler:
    """Assignment methods of the compiler (see :mod:`conduix.remap.compiler`)."""

    source: str
    state: StaticState
    functions: dict[str, FunctionSpec]
    uses_vars: bool
    uses_meta: bool
    _stored: bool

    def error(self, message: str, node: n.Node, hint: str | None = None) -> RemapCompileError:
        raise NotImplementedError

    def compile(self, node: n.Node, handled: bool = False) -> tuple[Fn, Kinds]:
        raise NotImplementedError

    def _c_call(self, node: n.Call, handled: bool, store: str | None = None) -> tuple[Fn, Kinds]:
        raise NotImplementedError

    # -- assignment -------------------------------------------------------------

    def _setter(self, target: n.Node, value_kinds: Kinds) -> Callable[[list[Any], Any], None] | None:
        """A closure storing a value into ``target`` (``None`` for ``_``); updates static kinds."""
        if isinstance(target, n.Underscore):
            return None
        if not isinstance(target, n.Query) or target.target == "expr":
            raise self.error("can only assign to a path, a metadata path, a variable or _", target)
        segs = tuple(target.segments)
        if target.target == "var":
            name = target.name or ""
            self.uses_vars = True
            if not segs:
                self.state.variables[name] = value_kinds
                self.state.forget_below(("var", name))

                def set_var(c: list[Any], v: Any) -> None:
                    c[2][name] = v
                return set_var
            # whatever it held, the variable now holds the object or array the path was written into
            self.state.variables[name] = kinds("array") if type(segs[0]) is int else kinds("object")
            key: Key = ("var", name, *segs)
            self.state.forget_below(key)
            self.state.paths[key] = value_kinds

            def set_var_path(c: list[Any], v: Any) -> None:
                variables = c[2]
                variables[name] = set_path(variables.get(name), segs, v)
            return set_var_path
        slot = 0 if target.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        key = (target.target, *segs)
        self.state.forget_below(key)
        self.state.paths[key] = value_kinds
        if not segs:
            line, column = target.line, target.column
            what = "event" if slot == 0 else "metadata"

            def set_root(c: list[Any], v: Any) -> None:
                if type(v) is not dict:
                    raise ExprError(f"the {what} root must be an object, got {kind_of(v)}", line, column)
                c[slot] = v
            return set_root
        if len(segs) == 1 and type(segs[0]) is str:
            field = segs[0]

            def set_field(c: list[Any], v: Any) -> None:
                c[slot][field] = v
            return set_field

        if type(segs[0]) is int:
            raise self.error("the event and metadata roots are objects; a path must start with a field",
                             target)

        def set_deep(c: list[Any], v: Any) -> None:
            set_path(c[slot], segs, v)
        return set_deep

    def _needs_copy(self, node: n.Node, value_kinds: Kinds) -> bool:
        if value_kinds is not None and not (value_kinds & {"array", "object"}):
            return False
        if isinstance(node, (n.Literal, n.Unary)):
            return False
        if isinstance(node, n.Call):
            spec = self.functions.get(node.name)
            return spec is None or not spec.fresh
        return True

    def _c_assign(self, node: n.Assign, handled: bool) -> tuple[Fn, Kinds]:
        if node.err_target is not None:
            return self._assign_err(node)
        store = self._store_target(node)
        if store is not None:
            assert isinstance(node.value, n.Call)
            self._stored = False
            value, value_kinds = self._c_call(node.value, handled, store)
            if self._stored:
                self._setter(node.target, value_kinds)  # static kinds only; the call stores the value
                return value, value_kinds
        else:
            value, value_kinds = self.compile(node.value, handled)
        if node.op == "|=":
            return self._merge_assign(node, value)
        if self._needs_copy(node.value, value_kinds):
            raw = value

            def value(c: list[Any]) -> Any:
                v = raw(c)
                return clone(v) if type(v) in _CONTAINERS else v
        fused = self._fused_assign(node.target, value)
        setter = self._setter(node.target, value_kinds)
        if fused is not None:
            return fused, value_kinds
        if setter is None:
            return value, value_kinds

        def assign(c: list[Any]) -> Any:
            v = value(c)
            setter(c, v)
            return v
        return assign, value_kinds

    def _store_target(self, node: n.Assign) -> str | None:
        """The event field ("" for the root) a call may store into directly, for ``.x = f!(...)``."""
        target, value = node.target, node.value
        if node.op != "=" or not isinstance(value, n.Call) or not isinstance(target, n.Query):
            return None
        spec = self.functions.get(value.name)
        if spec is None or not spec.fresh or target.target != "event":
            return None
        if not target.segments:
            return ""
        if len(target.segments) == 1 and type(target.segments[0]) is str:
            return target.segments[0]
        return None

    def _fused_assign(self, target: n.Node, value: Fn) -> Fn | None:
        """One closure for the hot cases ``.field = ...`` and ``. = ...``."""
        if not isinstance(target, n.Query) or target.target not in ("event", "meta"):
            return None
        slot = 0 if target.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        segs = target.segments
        if len(segs) == 1 and type(segs[0]) is str:
            field = segs[0]
            if slot == 0:
                def assign_event_field(c: list[Any]) -> Any:
                    v = value(c)
                    c[0][field] = v
                    return v
                return assign_event_field
            return None
        if not segs and slot == 0:
            line, column = target.line, target.column

            def assign_root(c: list[Any]) -> Any:
                v = value(c)
                if type(v) is not dict:
                    raise ExprError(f"the event root must be an object, got {kind_of(v)}", line, column)
                c[0] = v
                return v
            return assign_root
        return None

    def _merge_assign(self, node: n.Assign, value: Fn) -> tuple[Fn, Kinds]:
        current, _ = self.compile(node.target)
        setter = self._setter(node.target, kinds("object"))
        line, column = node.line, node.column

        def merge(c: list[Any]) -> Any:
            target = current(c)
            v = value(c)
            if type(target) is not dict or type(v) is not dict:
                raise ExprError(f"can't merge type {kind_of(v)} into {kind_of(target)}", line, column)
            merged = dict(target)
            merged.update(v)
            if setter is not None:
                setter(c, merged)
            return merged
        return merge, kinds("object")

    def _assign_err(self, node: n.Assign) -> tuple[Fn, Kinds]:
        assert node.err_target is not None
        value, value_kinds = self.compile(node.value, handled=True)
        default: Any = None
        if isinstance(node.value, n.Call):
            spec = self.functions.get(node.value.name)
            if spec is not None and spec.returns is not None and len(spec.returns) == 1:
                default = KIND_DEFAULTS.get(next(iter(spec.returns)))
        ok_set = self._setter(node.target, union_kinds(value_kinds, kinds(kind_of(default))))
        err_set = self._setter(node.err_target, kinds("string", "null"))
        copy = self._needs_copy(node.value, value_kinds)

        def assign_err(c: list[Any]) -> Any:
            try:
                v = value(c)
            except ExprError as exc:
                fallback = clone(default)
                if ok_set is not None:
                    ok_set(c, fallback)
                if err_set is not None:
                    err_set(c, exc.full_message())
                return fallback
            if copy and type(v) in _CONTAINERS:
                v = clone(v)
            if ok_set is not None:
                ok_set(c, v)
            if err_set is not None:
                err_set(c, None)
            return v
        return assign_err, value_kinds
