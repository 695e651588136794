"""Compiling function calls: binding arguments, types and fallibility, paths and closures.

A mixin of the compiler. A call is resolved once: arguments bound to
parameters, defaults filled in, each argument's static type checked against
what the parameter takes (a kind that can never fit is a compile error, one
that may not fit makes the call fallible and adds a run-time check, one that
always fits needs no check at all), and the result's type computed (from the
function's ``typer`` when it has one). Closure parameters get the types of the
collection's keys and items, as in VRL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from conduix.errors import RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.calls import ClosureRef, PathRef, Site, call_closure, path_call
from conduix.remap.codegen import Emit, Gen, plain_literal
from conduix.remap.functions.spec import IDENTITY, PYTHON_TYPES, FunctionSpec
from conduix.remap.optypes import CHECKED, MUST
from conduix.remap.static import State
from conduix.remap.typedefs import ANY, NOT_CONST, NULL, Type, of_kinds, of_value, union
from conduix.remap.values import ITEM_OF_VALUE

if TYPE_CHECKING:
    from conduix.remap.compiler import Out

__all__ = ["CallCompiler"]

Fn = Callable[[list[Any]], Any]
_KEY = frozenset({"string", "integer"})


class CallCompiler:
    """Function-call methods of the compiler (see :mod:`conduix.remap.compiler`)."""

    source: str
    state: State
    functions: Mapping[str, FunctionSpec]
    uses_vars: bool
    uses_meta: bool
    _stored: bool
    returns: list[Type]
    return_nodes: list[n.Node]

    if TYPE_CHECKING:  # provided by the compiler class this mixes into
        def error(self, message: str, node: n.Node, hint: str | None = None) -> RemapCompileError:
            raise NotImplementedError

        def compile(self, node: n.Node) -> Out:
            raise NotImplementedError

        def require_handled(self, out: Out, where: str, node: n.Node) -> None:
            raise NotImplementedError

        def span(self, node: n.Node) -> str:
            raise NotImplementedError

        def variable(self, name: str, node: n.Node) -> Type:
            raise NotImplementedError

        def warn(self, message: str, node: n.Node) -> None:
            raise NotImplementedError

        def _c_block(self, node: n.Block, scoped: bool = True) -> Out:
            raise NotImplementedError

    # -- resolution -------------------------------------------------------------

    def _spec(self, node: n.Call) -> FunctionSpec:
        spec = self.functions.get(node.name)
        if spec is None:
            close = difflib.get_close_matches(node.name, list(self.functions), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else "see docs/remap.md for the functions"
            raise self.error(f'call to undefined function "{node.name}"', node, hint)
        return spec

    def _bind(self, node: n.Call, spec: FunctionSpec) -> list[n.Node | None]:
        bound: list[n.Node | None] = [None] * len(spec.params)
        position = 0
        for name, value in node.args:
            if name is None:
                if position >= len(spec.params):
                    raise self.error(f'too many arguments for "{spec.name}" (it takes {len(spec.params)})', value)
                index = position
                position += 1
            else:
                param = spec.param(name)
                if param is None:
                    names = ", ".join(p.name for p in spec.params)
                    raise self.error(f'unknown argument "{name}" for "{spec.name}"', value,
                                     f"its parameters are: {names}")
                index = spec.params.index(param)
            if bound[index] is not None:
                raise self.error(f'argument "{spec.params[index].name}" given twice', value)
            bound[index] = value
        for param, arg in zip(spec.params, bound):
            if arg is None and param.required:
                raise self.error(f'missing required argument "{param.name}" for "{spec.name}"', node)
        return bound

    def _c_call(self, node: n.Call) -> Out:
        return self.call_into(node, None)

    def call_into(self, node: n.Call, store: str | None) -> Out:
        """Compile a call; with ``store``, the closure may also assign its result to that event field."""
        from conduix.remap.compiler import Out

        spec = self._spec(node)
        bound = self._bind(node, spec)
        if spec.closure is not None and node.closure is None:
            raise self.error(f'"{spec.name}" needs a closure, e.g. {spec.name}(...) -> |...| {{ ... }}', node)
        if spec.closure is None and node.closure is not None:
            raise self.error(f'"{spec.name}" does not take a closure', node.closure)

        root_is_object = self.state.event.kinds == {"object"}
        fns: list[Fn] = []
        emits: list[Emit | None] = []
        consts: list[Any] = []
        is_const: list[bool] = []
        checks: list[tuple[int, tuple[type, ...], str]] = []
        prefix: list[Any] = []
        types: list[Type] = []  # per parameter, for the typer
        param_consts: list[Any] = []
        checked = 0
        must = spec.fallible
        for i, (param, arg) in enumerate(zip(spec.params, bound)):
            if i == 0 and spec.path_arg:
                ref, path_type = self._path_ref(arg, spec)
                prefix.append(ref)
                types.append(path_type)
                param_consts.append(NOT_CONST)
                continue
            if arg is None:
                value = param.default
                fns.append(_constant(value))
                emits.append(None)
                consts.append(value)
                is_const.append(True)
                types.append(of_value(value))
                param_consts.append(value)
                continue
            out = self.compile(arg)
            self.require_handled(out, "argument", arg)
            checked = max(checked, out.fall)
            arg_kinds = out.type.kinds
            accepted = param.kinds
            if accepted is None and i == 0 and spec.fast is not None and spec.fallible_unless is not None \
                    and spec.fast(()) is IDENTITY:
                accepted = spec.fallible_unless  # string!(x), int!(x)...: the check is the function
            if param.kinds is not None and arg_kinds and not arg_kinds & param.kinds:
                raise self.error(
                    f'invalid argument type for "{param.name}" of "{spec.name}": expected '
                    f'{" or ".join(sorted(param.kinds))}, got {out.type.text()}', arg)
            if accepted is not None and not out.type.within(accepted):
                type_list = tuple(t for k in sorted(accepted) for t in PYTHON_TYPES[k])
                checks.append((len(fns), type_list, " or ".join(sorted(accepted))))
                must = True
            fns.append(out.fn)
            emits.append(out.emit)
            consts.append(out.const)
            is_const.append(out.const is not NOT_CONST)
            types.append(out.type)
            param_consts.append(out.const)
        if spec.fallible_unless is not None and types and not types[0].within(spec.fallible_unless):
            must = True
        if spec.checker is not None:
            verdict = spec.checker(types, param_consts)
            if isinstance(verdict, str):
                raise self.error(f'function compilation error: invalid argument for "{spec.name}": {verdict}',
                                 node)
            must = must or verdict is True

        closure_out = None
        if node.closure is not None:
            assert spec.closure is not None
            closure_ref, closure_out = self._closure(node.closure, spec, types[0] if types else ANY)
            prefix.append(closure_ref)
            if closure_out.fall == MUST:
                must = True
            checked = max(checked, min(closure_out.fall, CHECKED))

        if node.bang and not must:
            self.warn(f'can\'t abort infallible function: "{spec.name}" can\'t fail here; remove the !', node)
        own = MUST if must and not node.bang else 0
        blame = (node, f'unhandled fallible function call: "{spec.name}" can fail here',
                 f'use {spec.name}!(...) to stop the program on error, add "?? default", '
                 f"or capture it with: value, err = {spec.name}(...)") if own else None
        result = spec.typer(types, param_consts) if spec.typer is not None else of_kinds(spec.returns)
        fall = max(own, checked)
        if spec.path_arg and isinstance(prefix[0], PathRef):
            fast = path_call(spec.name, prefix[0], consts, is_const)
            if fast is not None:
                return Out(fast, result, fall, blame, emit=_path_emit(spec.name, prefix[0], self.state))
        field = None
        first = bound[0] if bound else None
        if (isinstance(first, n.Query) and first.target == "event" and len(first.segments) == 1
                and type(first.segments[0]) is str and root_is_object and not spec.path_arg):
            field = first.segments[0]  # the call reads the field inline
        site = Site(spec.name, node.line, node.column, self.span(node))
        fn, self._stored = call_closure(spec, fns, consts, is_const, checks, prefix, field, site, store)
        emit = None if prefix else _call_emit(spec, fns, emits, consts, is_const, checks, site)
        return Out(fn, result, fall, blame, emit=emit)

    # -- path arguments -----------------------------------------------------------

    def _path_ref(self, arg: n.Node | None, spec: FunctionSpec) -> tuple[PathRef, Type]:
        """A path argument (``del``, ``exists``), and the type of what it holds."""
        if isinstance(arg, n.Query) and arg.target == "expr":
            assert arg.base is not None
            base = self.compile(arg.base)
            return PathRef(3, None, tuple(arg.segments), base.fn), base.type.get(arg.segments)
        if not isinstance(arg, n.Query):
            raise self.error(f'"{spec.name}" takes a path such as .field, %field or a variable',
                             arg or n.Node(0, 0))
        segs = tuple(arg.segments)
        if arg.target == "var":
            name = arg.name or ""
            current = self.variable(name, arg)
            held = current.get(segs)
            if spec.name == "del":
                if segs:
                    self.state.variables[name] = current.delete(segs)
                else:
                    self.state.variables[name] = NULL
            return PathRef(2, name, segs), held
        slot = 0 if arg.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        root = self.state.root(arg.target)
        held = root.get(segs)
        if spec.name == "del":
            self.state.set_root(arg.target, root.delete(segs))
        return PathRef(slot, arg.name, segs), held

    # -- closures -----------------------------------------------------------------

    def _closure(self, closure: n.Closure, spec: FunctionSpec, value: Type) -> tuple[ClosureRef, Out]:
        assert spec.closure is not None
        if len(closure.params) != len(spec.closure):
            raise self.error(f'the closure of "{spec.name}" takes {len(spec.closure)} parameter(s), '
                             f"got {len(closure.params)}", closure)
        before = self.state
        self.state = before.copy()
        for name, kinds in zip(closure.params, spec.closure):
            if name is not None:
                self.state.variables[name] = _param_type(kinds, value)
        self.uses_vars = True
        saved_returns, saved_nodes = self.returns, self.return_nodes
        self.returns, self.return_nodes = [], []
        try:
            body = self._c_block(closure.body, scoped=False)
            returned = list(zip(self.returns, self.return_nodes))
        finally:
            self.returns, self.return_nodes = saved_returns, saved_nodes
        if spec.closure_returns is not None:
            wanted = spec.closure_returns
            for kind, _ in [*returned, (body.type, closure.body)]:
                if kind.kinds and not kind.kinds & wanted:
                    raise self.error(f'type mismatch in closure return type: "{spec.name}" needs '
                                     f'{" or ".join(sorted(wanted))}, this closure can return {kind.text()}',
                                     closure.body)
        after = self.state.leave_scope(before)
        for name in closure.params:  # a parameter that shadowed a variable: the variable is back
            if name is not None and name in before.variables:
                after.variables[name] = before.variables[name]
        self.state = before.join(after)
        copy = _mutates(closure.body, {p for p in closure.params if p is not None})
        ref = ClosureRef(list(closure.params), body.fn, bool(returned), copy)
        result_type = body.type
        for kind, _ in returned:
            result_type = union(result_type, kind)
        from conduix.remap.compiler import Out

        return ref, Out(body.fn, result_type, body.fall, body.blame)


def _param_type(kinds: frozenset[str] | Type | None, value: Type) -> Type:
    if isinstance(kinds, Type):
        return kinds
    if kinds is ITEM_OF_VALUE:
        item = value.element()
        return item if item.kinds else ANY
    if kinds == _KEY:
        if value.kinds == {"object"}:
            return of_kinds(frozenset({"string"}))
        if value.kinds == {"array"}:
            return of_kinds(frozenset({"integer"}))
    return of_kinds(kinds)


def _mutates(node: Any, names: set[str]) -> bool:
    """Whether ``node`` may change one of the variables ``names`` in place (``x.a = 1``, ``del(x.a)``)."""
    if not names:
        return False
    if isinstance(node, n.Assign):
        for target in (node.target, node.err_target):
            if isinstance(target, n.Query) and target.target == "var" and target.name in names and \
                    (target.segments or node.op == "|="):
                return True
    if isinstance(node, n.Call) and node.name == "del" and node.args:
        arg = node.args[0][1]
        if isinstance(arg, n.Query) and arg.target == "var" and arg.name in names and arg.segments:
            return True
    if isinstance(node, n.Node):
        return any(_mutates(value, names) for value in vars(node).values())
    if isinstance(node, (list, tuple)):
        return any(_mutates(item, names) for item in node)
    return False


def _constant(value: Any) -> Fn:
    return lambda c: value


def _call_emit(spec: FunctionSpec, fns: list[Fn], emits: list[Emit | None], consts: list[Any],
               is_const: list[bool], checks: list[tuple[int, tuple[type, ...], str]], site: Site) -> Emit:
    """The Python of a call without path or closure: arguments, the checks they need, the call."""
    def emit(g: Gen) -> str:
        args: list[str] = []
        for fn, sub, const, known in zip(fns, emits, consts, is_const):
            if known:
                args.append(repr(const) if plain_literal(const) else g.ref(const))
            else:
                args.append(g.bind(g.value(sub, fn)))
        where = g.ref(site)
        for index, types, text in checks:
            arg = args[index]
            test = f"type({arg}) is not {g.ref(types[0])}" if len(types) == 1 else f"type({arg}) not in {g.ref(types)}"
            g.add(f"if {test}:")
            g.add(f"    raise {where}.type_error({text!r}, {arg})")
        fast = spec.fast(tuple(consts[1:])) if spec.fast is not None and args and all(is_const[1:]) else None
        if fast is IDENTITY:
            return args[0]
        foreign, wording = spec.fast_raises if fast is not None else ((), "")
        call = f"{g.ref(fast)}({args[0]})" if fast is not None else f"{g.ref(spec.impl)}({', '.join(args)})"
        result = g.temp()
        g.add("try:")
        g.add(f"    {result} = {call}")
        g.add("except ExprError as exc:")
        g.add(f"    {where}.locate(exc)")
        g.add("    raise")
        if foreign:
            g.add(f"except {g.ref(foreign)} as exc:")
            g.add(f"    raise {where}.foreign(exc, {g.ref(wording)}) from None")
        return result
    return emit


def _path_emit(name: str, ref: PathRef, state: State) -> Emit | None:
    """``del(.field)`` / ``exists(.field)`` on a top-level field of an event or metadata known to be an object."""
    if state.root("event" if ref.slot == 0 else "meta").kinds != {"object"}:
        return None
    holder, field = ("e" if ref.slot == 0 else "c[1]"), ref.segments[0]
    if name == "del":
        return lambda g: f"{holder}.pop({field!r}, None)"
    return lambda g: f"({field!r} in {holder})"

