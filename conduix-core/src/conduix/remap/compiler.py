"""Compile a remap syntax tree into Python closures, once per program.

Every node becomes a closure ``fn(c) -> value`` where ``c`` is the per-record
state, a three-item list ``[event, metadata, variables]`` (a list because
indexing it is the cheapest access Python has). Function calls are resolved
here: arguments bound to parameters, defaults filled in, type checks inserted
only where the argument's static kind does not already fit, and fallible calls
that nothing handles rejected. The per-record path therefore runs no parser, no
tree walk and no name lookup.

Static kinds are tracked for literals, variables and event paths assigned in
the program (with a join at ``if`` branches), which is what lets
``upcase(.x)`` be refused while ``.x = "a"; upcase(.x)`` is accepted, as in VRL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from conduix.errors import RemapAbort, RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.assignments import AssignmentCompiler
from conduix.remap.calls import PathRef, call_closure, path_call
from conduix.remap.functions import function_table
from conduix.remap.functions.spec import PYTHON_TYPES, FunctionSpec
from conduix.remap.operators import binary, binary_kinds, unary
from conduix.remap.paths import clone, get_path
from conduix.remap.static import Key, StaticState, union_kinds
from conduix.remap.values import LENIENT, ExprError, Kinds, kind_of, kinds

__all__ = ["Compiled", "compile_program"]

Fn = Callable[[list[Any]], Any]

_LITERAL_KINDS = {str: "string", int: "integer", float: "float", bool: "boolean", type(None): "null"}
_CONTAINERS = (dict, list)


class Compiled:
    """The result of compiling: the program closure and what it needs per record."""

    def __init__(self, body: Fn, kinds: Kinds, uses_vars: bool, uses_meta: bool,
                 result_at: tuple[int, int] = (1, 1)) -> None:
        self.body = body
        self.kinds = kinds
        self.uses_vars = uses_vars
        self.uses_meta = uses_meta
        self.result_at = result_at
        """Line and column of the expression whose value is the program's result."""


class _Compiler(AssignmentCompiler):
    def __init__(self, source: str) -> None:
        self.source = source
        self.functions = function_table()
        self.state = StaticState()
        self.uses_vars = False
        self.uses_meta = False
        self._stored = False

    def error(self, message: str, node: n.Node, hint: str | None = None) -> RemapCompileError:
        return RemapCompileError(message, line=node.line or None, column=node.column or None,
                                 source=self.source, hint=hint)

    # -- dispatch ---------------------------------------------------------------

    def compile(self, node: n.Node, handled: bool = False) -> tuple[Fn, Kinds]:
        method = getattr(self, f"_c_{type(node).__name__.lower()}")
        result: tuple[Fn, Kinds] = method(node, handled)
        return result

    def _c_literal(self, node: n.Literal, handled: bool) -> tuple[Fn, Kinds]:
        value = node.value
        kind = _LITERAL_KINDS.get(type(value)) or kind_of(value)
        return (lambda c: value), kinds(kind)

    def _c_array(self, node: n.Array, handled: bool) -> tuple[Fn, Kinds]:
        fns = [self.compile(item, handled)[0] for item in node.items]
        return (lambda c: [f(c) for f in fns]), kinds("array")

    def _c_object(self, node: n.Object, handled: bool) -> tuple[Fn, Kinds]:
        pairs = [(key, self.compile(value, handled)[0]) for key, value in node.pairs]
        return (lambda c: {k: f(c) for k, f in pairs}), kinds("object")

    def _c_block(self, node: n.Block, handled: bool) -> tuple[Fn, Kinds]:
        if not node.exprs:
            return (lambda c: None), kinds("null")
        compiled = [self.compile(e, handled) for e in node.exprs]
        fns = [f for f, _ in compiled]
        last_kinds = compiled[-1][1]
        if len(fns) == 1:
            return fns[0], last_kinds
        if len(fns) == 2:
            f0, f1 = fns

            def block2(c: list[Any]) -> Any:
                f0(c)
                return f1(c)
            return block2, last_kinds
        if len(fns) == 3:
            g0, g1, g2 = fns

            def block3(c: list[Any]) -> Any:
                g0(c)
                g1(c)
                return g2(c)
            return block3, last_kinds
        if len(fns) == 4:
            h0, h1, h2, h3 = fns

            def block4(c: list[Any]) -> Any:
                h0(c)
                h1(c)
                h2(c)
                return h3(c)
            return block4, last_kinds
        head = fns[:-1]
        tail = fns[-1]

        def block(c: list[Any]) -> Any:
            for f in head:
                f(c)
            return tail(c)
        return block, last_kinds

    def _c_underscore(self, node: n.Underscore, handled: bool) -> tuple[Fn, Kinds]:
        raise self.error('"_" can only be assigned to', node)

    # -- queries ----------------------------------------------------------------

    def _key(self, node: n.Query) -> Key | None:
        if node.target == "event":
            return ("event", *node.segments)
        if node.target == "meta":
            return ("meta", *node.segments)
        if node.target == "var" and node.segments:
            return ("var", node.name, *node.segments)
        return None

    def _c_query(self, node: n.Query, handled: bool) -> tuple[Fn, Kinds]:
        segs = tuple(node.segments)
        if node.target == "expr":
            assert node.base is not None
            base, _ = self.compile(node.base, handled)
            return (lambda c: get_path(base(c), segs)), None
        if node.target == "var":
            name = node.name or ""
            if name not in self.state.variables:
                names = sorted(self.state.variables)
                close = difflib.get_close_matches(name, names, n=3)
                hint = f"did you mean {', '.join(close)}?" if close else "assign it first, e.g. x = .field"
                raise self.error(f'undefined variable "{name}"', node, hint)
            self.uses_vars = True
            if not segs:
                return (lambda c: c[2].get(name)), self.state.variables[name]
            key = self._key(node)
            return (lambda c: get_path(c[2].get(name), segs)), self.state.paths.get(key) if key else None
        slot = 0 if node.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        key = self._key(node)
        known = self.state.paths.get(key) if key else None
        if not segs:
            return (lambda c: c[slot]), known if known is not None else kinds("object")
        if len(segs) == 1 and type(segs[0]) is str:
            field = segs[0]
            if slot == 0:
                return (lambda c: c[0].get(field)), known
            return (lambda c: c[1].get(field)), known
        return (lambda c: get_path(c[slot], segs)), known

    # -- operators --------------------------------------------------------------

    def _c_unary(self, node: n.Unary, handled: bool) -> tuple[Fn, Kinds]:
        operand, _ = self.compile(node.operand, handled)
        result = kinds("boolean") if node.op == "!" else None
        return unary(node.op, operand, node.line, node.column), result

    def _c_binary(self, node: n.Binary, handled: bool) -> tuple[Fn, Kinds]:
        left, lk = self.compile(node.left, handled or node.op == "??")
        right, rk = self.compile(node.right, handled)
        const = isinstance(node.right, n.Literal)
        fn = binary(node.op, left, right, node.line, node.column,
                    node.right.value if isinstance(node.right, n.Literal) else None, const)
        return fn, binary_kinds(node.op, lk, rk)

    # -- control flow -----------------------------------------------------------

    def _c_if(self, node: n.If, handled: bool) -> tuple[Fn, Kinds]:
        test, test_kinds = self.compile(node.condition, handled)
        if test_kinds is not None and "boolean" not in test_kinds and "any" not in test_kinds:
            raise self.error(f"if-statement condition must be a boolean, not {' or '.join(sorted(test_kinds))}",
                             node.condition)
        before = self.state
        self.state = before.copy()
        then, then_kinds = self.compile(node.then, handled)
        after_then = self.state
        self.state = before.copy()
        other: Fn | None = None
        other_kinds: Kinds = kinds("null")
        if node.otherwise is not None:
            other, other_kinds = self.compile(node.otherwise, handled)
        self.state = after_then.join(self.state)
        line, column = node.condition.line, node.condition.column

        def if_(c: list[Any]) -> Any:
            cond = test(c)
            if cond is True:
                return then(c)
            if cond is False:
                return other(c) if other is not None else None
            raise ExprError(f"if-statement condition must be a boolean, got {kind_of(cond)}", line, column)
        return if_, union_kinds(then_kinds, other_kinds)

    def _c_abort(self, node: n.Abort, handled: bool) -> tuple[Fn, Kinds]:
        message = self.compile(node.message, handled)[0] if node.message is not None else None
        line, column = node.line, node.column

        def abort(c: list[Any]) -> Any:
            text = "aborted"
            if message is not None:
                value = message(c)
                text = value if type(value) is str else str(value)
            raise RemapAbort(text, line=line, column=column)
        return abort, kinds()

    # -- calls ------------------------------------------------------------------

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

    def _c_call(self, node: n.Call, handled: bool, store: str | None = None) -> tuple[Fn, Kinds]:
        spec = self._spec(node)
        bound = self._bind(node, spec)
        if spec.closure is not None and node.closure is None:
            raise self.error(f'"{spec.name}" needs a closure, e.g. {spec.name}(...) -> |...| {{ ... }}', node)
        if spec.closure is None and node.closure is not None:
            raise self.error(f'"{spec.name}" does not take a closure', node.closure)

        fns: list[Fn] = []
        consts: list[Any] = []
        is_const: list[bool] = []
        checks: list[tuple[int, tuple[type, ...], str]] = []
        prefix: list[Any] = []
        first_kinds: Kinds = None
        lenient_checks = 0
        for i, (param, arg) in enumerate(zip(spec.params, bound)):
            if i == 0 and spec.path_arg:
                prefix.append(self._path_ref(arg, spec))
                continue
            if arg is None:
                value = param.default
                fns.append(_constant(value))
                consts.append(value)
                is_const.append(True)
                continue
            fn, arg_kinds = self.compile(arg, handled)
            if i == 0:
                first_kinds = arg_kinds
            if (param.kinds is not None and arg_kinds is not None and arg_kinds is not LENIENT and arg_kinds
                    and not arg_kinds & param.kinds):
                raise self.error(
                    f'invalid argument type for "{param.name}" of "{spec.name}": expected '
                    f'{" or ".join(sorted(param.kinds))}, got {" or ".join(sorted(arg_kinds))}', arg)
            if param.kinds is not None and (arg_kinds is None or not arg_kinds <= param.kinds):
                types = tuple(t for k in sorted(param.kinds) for t in PYTHON_TYPES[k])
                checks.append((len(fns), types, " or ".join(sorted(param.kinds))))
                if arg_kinds is LENIENT:
                    lenient_checks += 1
            fns.append(fn)
            consts.append(arg.value if isinstance(arg, n.Literal) else None)
            is_const.append(isinstance(arg, n.Literal))

        strict_checks = len(checks) > lenient_checks
        fallible = spec.fallible or strict_checks
        if spec.fallible_unless is not None:
            fallible = strict_checks or (first_kinds is not LENIENT and (
                first_kinds is None or not first_kinds <= spec.fallible_unless))
        if fallible and not node.bang and not handled:
            raise self.error(
                f'unhandled fallible function call: "{spec.name}" can fail here', node,
                f'use {spec.name}!(...) to stop the program on error, add "?? default", '
                f"or capture it with: value, err = {spec.name}(...)")

        if node.closure is not None:
            assert spec.closure is not None
            prefix.append(self._closure(node.closure, spec))
        if spec.path_arg and isinstance(prefix[0], PathRef):
            fast = path_call(spec.name, prefix[0], consts, is_const)
            if fast is not None:
                return fast, spec.returns
        field = None
        first = bound[0] if bound else None
        if (isinstance(first, n.Query) and first.target == "event" and len(first.segments) == 1
                and type(first.segments[0]) is str):
            field = first.segments[0]
        fn, self._stored = call_closure(spec, fns, consts, is_const, checks, prefix, field, node.line,
                                        node.column, store)
        return fn, spec.returns

    def _path_ref(self, arg: n.Node | None, spec: FunctionSpec) -> PathRef:
        if isinstance(arg, n.Query) and arg.target == "expr" and spec.name == "exists":
            assert arg.base is not None
            return PathRef(3, None, tuple(arg.segments), self.compile(arg.base)[0])
        if not isinstance(arg, n.Query) or arg.target == "expr":
            raise self.error(f'"{spec.name}" takes a path such as .field, %field or a variable',
                             arg or n.Node(0, 0))
        segs = tuple(arg.segments)
        if arg.target == "var":
            if (arg.name or "") not in self.state.variables:
                raise self.error(f'undefined variable "{arg.name}"', arg)
            self.uses_vars = True
            slot = 2
            if spec.name == "del":
                self.state.forget_below(("var", arg.name, *segs))
        else:
            slot = 0 if arg.target == "event" else 1
            if slot == 1:
                self.uses_meta = True
            if spec.name == "del":
                self.state.forget_below((arg.target, *segs))
        return PathRef(slot, arg.name, segs)

    def _closure(self, closure: n.Closure, spec: FunctionSpec) -> Callable[[list[Any]], Callable[..., Any]]:
        assert spec.closure is not None
        if len(closure.params) != len(spec.closure):
            raise self.error(f'the closure of "{spec.name}" takes {len(spec.closure)} parameter(s), '
                             f"got {len(closure.params)}", closure)
        before = self.state
        self.state = before.copy()
        for name, param_kinds in zip(closure.params, spec.closure):
            if name is not None:
                self.state.variables[name] = param_kinds
        self.uses_vars = True
        body, _ = self.compile(closure.body)
        inner = self.state
        for name in closure.params:
            if name is not None and name not in before.variables:
                inner.variables.pop(name, None)
        self.state = inner.join(before)
        names = [p for p in closure.params]

        def bind(c: list[Any]) -> Callable[..., Any]:
            variables = c[2]

            def run(*values: Any) -> Any:
                for name, value in zip(names, values):
                    if name is not None:
                        # a copy, so that changing the parameter never changes the collection (VRL values)
                        variables[name] = clone(value) if type(value) in _CONTAINERS else value
                return body(c)
            return run
        return bind


def _constant(value: Any) -> Fn:
    return lambda c: value


def compile_program(source: str) -> Compiled:
    """Parse and compile ``source``; raises :class:`RemapCompileError`."""
    from conduix.remap.parser import parse

    try:
        tree = parse(source)
        compiler = _Compiler(source)
        body, result_kinds = compiler.compile(tree)
    except RecursionError:
        raise RemapCompileError("the program nests too deeply", source=source,
                                hint="split long operator chains or deep nesting with variables") from None
    last = tree.exprs[-1] if tree.exprs else tree
    return Compiled(body, result_kinds, compiler.uses_vars, compiler.uses_meta, (last.line, last.column))
