"""Compile a remap syntax tree into Python closures, once per program.

Every node becomes a closure ``fn(c) -> value`` where ``c`` is the per-record
state, a three-item list ``[event, metadata, variables]`` (a list because
indexing it is the cheapest access Python has). The per-record path runs no
parser, no tree walk and no name lookup.

As it goes, the compiler infers the static type of every expression (see
:mod:`conduix.remap.typedefs`), as VRL does, and whether it can fail:

- ``MUST``: a failure the program has to handle (a fallible function call,
  ``1 / 0``): ``f!(...)``, ``?? default`` or ``x, err = ...``; left unhandled
  it is a compile error, as in VRL;
- ``CHECKED``: an operator or condition on values of kinds not known when
  compiling (``.a + 1``). VRL refuses these unless handled; remap checks them
  at run time and reports the operator's position (docs/remap.md says so);
- ``0``: cannot fail; the closure then skips the run-time checks.

Programs that cannot work are refused as in VRL: a function argument of a
kind the function does not take, ``{} | 1``, ``!"x"``, chained comparisons,
an error assignment or ``??`` around what cannot fail.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any

from conduix.errors import RemapAbort, RemapCompileError
from conduix.remap import nodes as n
from conduix.remap.assignments import AssignmentCompiler
from conduix.remap.callsites import CallCompiler
from conduix.remap.codegen import Batched, Emit, Gen, binary_emit, field_read, generate, plain_literal, variable
from conduix.remap.functions import function_table
from conduix.remap.operators import binary, unary
from conduix.remap.optypes import CHECKED, MUST, binary_type, is_comparison
from conduix.remap.ownership import CopyNeed, input_copy, moved_reads, optimistic_prefix, variables_in
from conduix.remap.parser import RESERVED
from conduix.remap.paths import get_path
from conduix.remap.static import State
from conduix.remap.typedefs import BOOLEAN, NEVER, NOT_CONST, NULL, Type, array_type, object_type, of_value, union
from conduix.remap.values import ExprError, Returned, kind_of

__all__ = ["CHECKED", "MUST", "Compiled", "Out", "Returned", "compile_program"]

Fn = Callable[[list[Any]], Any]
Blame = tuple[n.Node, str, str | None]


class Out:
    """A compiled expression: its closure, static type, fallibility, and constant value if it is one."""

    __slots__ = ("blame", "const", "emit", "fall", "fn", "type")

    def __init__(self, fn: Fn, type_: Type, fall: int = 0, blame: Blame | None = None,
                 const: Any = NOT_CONST, emit: Emit | None = None) -> None:
        self.fn = fn
        self.type = type_
        self.fall = fall
        self.blame = blame
        self.const = const
        self.emit = emit
        """Writes the Python of this expression for the generated top level (see :mod:`codegen`), if it can."""


def worst(outs: list[Out]) -> tuple[int, Blame | None]:
    """The fallibility of an expression made of ``outs``, and what to blame when it must be handled."""
    fall = 0
    blame = None
    for out in outs:
        if out.fall > fall:
            fall = out.fall
        if blame is None and out.fall == MUST:
            blame = out.blame
    return fall, blame


def _literal_emit(items: list[Out], opening: str, closing: str, keys: list[str] | None = None) -> Emit:
    """The Python of an array (``keys`` None) or object literal: its items evaluated in order, then the
    container. Keys from the program enter the text only through ``repr``."""
    def emit(g: Gen) -> str:
        values = [g.bind(g.value(item.emit, item.fn)) for item in items]
        if keys is None:
            return opening + "".join(f"{v}, " for v in values) + closing
        return opening + ", ".join(f"{key!r}: {v}" for key, v in zip(keys, values)) + closing
    return emit


class Compiled:
    """The result of compiling: the program closure and what it needs per record."""

    def __init__(self, body: Fn, type_: Type, uses_vars: bool, uses_meta: bool,
                 result_at: tuple[int, int] = (1, 1), returns: bool = False,
                 warnings: list[tuple[str, int, int]] | None = None, run: Callable[..., Any] | None = None,
                 copy_input: CopyNeed = "deep", batched: Batched | None = None) -> None:
        self.run = run
        self.batched = batched
        """The batch forms of the program (written on first use): :class:`codegen.Batched`."""
        """``run(event, metadata=None) -> event``: :meth:`Program.run` for this program (generated code)."""
        self.copy_input = copy_input
        """What a caller that keeps the original event must copy of it (:mod:`conduix.remap.ownership`)."""
        self.warnings = warnings or []
        """VRL's compile-time warnings, ``(message, line, column)``: the program runs, but something in it
        is useless (``now!()``: nothing to abort on, a literal whose value nobody uses...)."""
        self.body = body
        self.type = type_
        self.kinds = type_.kinds
        self.uses_vars = uses_vars
        self.uses_meta = uses_meta
        self.result_at = result_at
        """Line and column of the expression whose value is the program's result."""
        self.returns = returns
        """Whether the program has a top-level ``return`` (its run must catch :class:`Returned`)."""


class _Compiler(AssignmentCompiler, CallCompiler):
    def __init__(self, source: str) -> None:
        self.source = source
        self.functions = function_table()
        self.state = State()
        self.uses_vars = False
        self.uses_meta = False
        self._stored = False
        self.returns: list[Type] = []
        """Types of the ``return`` statements of the closure (or program) being compiled."""
        self.return_nodes: list[n.Node] = []
        self._ascii = source.isascii()
        self.warnings: list[tuple[str, int, int]] = []
        """Compile-time warnings (VRL's): ``(message, line, column)``."""
        self.assigned: dict[str, n.Node] = {}
        self.read: set[str] = set()
        self.moved: set[int] = set()
        """Reads whose value an assignment takes without a copy (:func:`ownership.moved_reads`)."""
        self.closures: dict[Fn, n.Node] = {}
        """The node of each compiled closure: the generated code that calls one keeps the variables it may
        touch in the variable dict (:meth:`names_of`)."""

    def names_of(self, fn: Fn) -> frozenset[str] | None:
        """The variables the closure ``fn`` may read or write (``None``: not known, any)."""
        node = self.closures.get(fn)
        return variables_in(node) if node is not None else None

    def warn(self, message: str, node: n.Node) -> None:
        self.warnings.append((message, node.line, node.column))

    def error(self, message: str, node: n.Node, hint: str | None = None) -> RemapCompileError:
        return RemapCompileError(message, line=node.line or None, column=node.column or None,
                                 source=self.source, hint=hint)

    def span(self, node: n.Node) -> str:
        """VRL's ``(start:end)`` byte span of a node."""
        if self._ascii:
            return f"({node.start}:{node.end})"
        start = len(self.source[:node.start].encode())
        return f"({start}:{start + len(self.source[node.start:node.end].encode())})"

    def require_handled(self, out: Out, where: str, node: n.Node) -> None:
        """Refuse an expression whose failure nothing handles (``where``: what it is used as)."""
        if out.fall != MUST:
            return
        blame_node, message, hint = out.blame or (node, "unhandled error", None)
        if where == "argument":
            raise self.error(f"fallible argument: {message}", node,
                             hint or "handle the error first: f!(...), ?? default, or ok, err = ...")
        if where == "abort":
            raise self.error(f"unhandled fallible expression: {message}", node, hint)
        raise self.error(message, blame_node, hint)

    # -- dispatch ---------------------------------------------------------------

    def compile(self, node: n.Node) -> Out:
        method = getattr(self, f"_c_{type(node).__name__.lower()}")
        out: Out = method(node)
        self.closures[out.fn] = node
        return out

    def _c_literal(self, node: n.Literal) -> Out:
        value = node.value
        if type(value) is int and value >= 2**63:  # the parser lets 2**63 through for -9223372036854775808
            raise self.error(f"integer literal {value} does not fit in 64 bits", node)
        text = repr(value) if plain_literal(value) else None
        return Out(lambda c: value, of_value(value), const=value,
                   emit=(lambda g: text) if text is not None else (lambda g: g.ref(value)))

    def _c_array(self, node: n.Array) -> Out:
        outs = [self.literal_item(item, self.compile(item)) for item in node.items]
        fns = [o.fn for o in outs]
        fall, blame = worst(outs)
        if len(fns) == 1:
            only = fns[0]
            fn: Fn = lambda c: [only(c)]  # noqa: E731
        else:
            fn = lambda c: [f(c) for f in fns]  # noqa: E731
        const = [o.const for o in outs] if all(o.const is not NOT_CONST for o in outs) else NOT_CONST
        return Out(fn, array_type(o.type for o in outs), fall, blame, const, emit=_literal_emit(outs, "[", "]"))

    def _c_object(self, node: n.Object) -> Out:
        outs = [(key, self.literal_item(value, self.compile(value))) for key, value in node.pairs]
        pairs = [(key, o.fn) for key, o in outs]
        fall, blame = worst([o for _, o in outs])
        fields: dict[str, Type] = {}
        for key, o in outs:
            fields[key] = o.type
        const = {k: o.const for k, o in outs} if all(o.const is not NOT_CONST for _, o in outs) else NOT_CONST
        return Out(lambda c: {k: f(c) for k, f in pairs}, object_type(fields), fall, blame, const,
                   emit=_literal_emit([o for _, o in outs], "{", "}", [key for key, _ in outs]))

    def _c_block(self, node: n.Block, scoped: bool = True) -> Out:
        """``{ a; b }``: a scope; its value is the last expression's."""
        outer = self.state
        if scoped:
            self.state = outer.copy()
        outs = [self.compile(e) for e in node.exprs]
        if scoped:
            self.state = self.state.leave_scope(outer)
        if not outs:
            return Out(lambda c: None, NULL)
        fall, blame = worst(outs)
        return Out(sequence([o.fn for o in outs]), outs[-1].type, fall, blame)

    def _c_underscore(self, node: n.Underscore) -> Out:
        raise self.error('"_" can only be assigned to', node)

    # -- queries ----------------------------------------------------------------

    def variable(self, name: str, node: n.Node) -> Type:
        if name in RESERVED:
            raise self.error("reserved keyword", node, "this name is reserved for future use in VRL: use another")
        if name not in self.state.variables:
            names = sorted(self.state.variables)
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "assign it first, e.g. x = .field"
            raise self.error(f'undefined variable "{name}"', node, hint)
        self.uses_vars = True
        self.read.add(name)
        return self.state.variables[name]

    def _c_query(self, node: n.Query) -> Out:
        segs = tuple(node.segments)
        if node.target == "expr":
            assert node.base is not None
            base = self.compile(node.base)
            base_fn = base.fn
            if len(segs) == 1 and type(segs[0]) is str:
                name = segs[0]

                def field_of(c: list[Any]) -> Any:
                    v = base_fn(c)
                    return v.get(name) if type(v) is dict else None
                return Out(field_of, base.type.get(segs), base.fall, base.blame)
            return Out(lambda c: get_path(base_fn(c), segs), base.type.get(segs), base.fall, base.blame)
        if node.target == "var":
            name = node.name or ""
            of_variable = self.variable(name, node)
            known = of_variable.get(segs)
            held = variable(name)
            if not segs:
                return Out(lambda c: c[2].get(name), known, emit=lambda g: held)
            if len(segs) == 1 and type(segs[0]) is str and of_variable.kinds == {"object"}:  # assigned, an object
                key = segs[0]
                field_of_variable = field_read(variable(name, assigned=True), key)
                return Out(lambda c: c[2][name].get(key), known, emit=lambda g: field_of_variable)
            return Out(lambda c: get_path(c[2].get(name), segs), known, emit=lambda g: f"_get_path({held}, {segs!r})")
        slot = 0 if node.target == "event" else 1
        if slot == 1:
            self.uses_meta = True
        root = self.state.root(node.target)
        known = root.get(segs)
        holder = "e" if slot == 0 else "c[1]"  # the generated code keeps the event in the local e
        if not segs:
            return Out(lambda c: c[slot], known, emit=lambda g: holder)
        if len(segs) == 1 and type(segs[0]) is str and "object" in root.kinds:
            field = segs[0]
            if root.kinds != {"object"}:  # the root was set to something that may not be an object
                return Out(lambda c: c[slot].get(field) if type(c[slot]) is dict else None, known,
                           emit=lambda g: f"({holder}.get({field!r}) if type({holder}) is dict else None)")
            if slot == 0:
                read = field_read("e", field)
                return Out(lambda c: c[0].get(field), known, emit=lambda g: read)
            return Out(lambda c: c[1].get(field), known, emit=lambda g: f"c[1].get({field!r})")
        return Out(lambda c: get_path(c[slot], segs), known, emit=lambda g: f"_get_path({holder}, {segs!r})")

    # -- operators --------------------------------------------------------------

    def _c_unary(self, node: n.Unary) -> Out:
        operand = self.compile(node.operand)
        kinds = operand.type.kinds
        if node.op == "!":
            if kinds and "boolean" not in kinds:
                raise self.error(f"non-boolean negation: can't negate type {operand.type.text()}", node,
                                 "! takes a boolean; compare first, e.g. !(.x == 1)")
            if kinds == {"boolean"}:
                fn = operand.fn
                return Out(lambda c: not fn(c), BOOLEAN, operand.fall, operand.blame)
            return Out(unary("!", operand.fn, node.line, node.column), BOOLEAN, max(operand.fall, CHECKED),
                       operand.blame)
        numbers = kinds & {"integer", "float"}
        if kinds and not numbers:
            raise self.error(f"can't negate type {operand.type.text()}", node)
        fall = operand.fall if kinds <= {"integer", "float"} else max(operand.fall, CHECKED)
        return Out(unary("-", operand.fn, node.line, node.column), Type(numbers or {"integer", "float"}), fall,
                   operand.blame)

    def _c_binary(self, node: n.Binary) -> Out:
        if is_comparison(node.op) and isinstance(node.left, n.Binary) and is_comparison(node.left.op) \
                and not node.left.grouped:
            raise self.error("comparison operators can't be chained together", node.left,
                             "use && between two comparisons, or parentheses")
        if node.op == "??":
            return self._coalesce(node)
        left = self.compile(node.left)
        before_right = self.state
        if node.op in ("||", "&&"):  # the right side may not run
            self.state = before_right.copy()
        right = self.compile(node.right)
        if node.op in ("||", "&&"):
            self.state = before_right.join(self.state)
        result, fall, problem = binary_type(node.op, left.type, right.type, left.const, right.const)
        if problem is not None:
            raise self.error(problem, node)
        inner_fall, blame = worst([left, right])
        if fall == MUST:
            blame = (node, "unhandled error: this expression fails when it runs", "handle it with ?? or "
                     "ok, err = ...")
        fn = binary(node.op, left.fn, right.fn, node.line, node.column, right.const,
                    right.const is not NOT_CONST, checked=fall != 0)
        emit = binary_emit(node.op, left, right) if fall == 0 else None
        return Out(fn, result, max(fall, inner_fall), blame, emit=emit)

    def _coalesce(self, node: n.Binary) -> Out:
        left = self.compile(node.left)
        if left.fall == 0:
            raise self.error("unnecessary error coalescing operation: the left side can't fail", node.left,
                             "remove the ?? and its right side")
        before = self.state
        self.state = before.copy()
        right = self.compile(node.right)
        self.state = before.join(self.state)
        fn = binary("??", left.fn, right.fn, node.line, node.column)
        return Out(fn, union(left.type, right.type), right.fall, right.blame)

    # -- control flow -----------------------------------------------------------

    def _condition(self, node: n.Node) -> Out:
        if isinstance(node, n.Block):  # if (a; b; condition) { ... }: no scope of its own
            test = self._c_block(node, scoped=False)
        else:
            test = self.compile(node)
        self.require_handled(test, "condition", node)
        kinds = test.type.kinds
        where = node.exprs[-1] if isinstance(node, n.Block) else node
        if kinds and "boolean" not in kinds:
            raise self.error(f"if-statement condition must be a boolean, not {test.type.text()}", where)
        return test

    def _c_if(self, node: n.If) -> Out:
        from conduix.remap.narrowing import narrowed

        test = self._condition(node.condition)
        before = self.state
        self.state = narrowed(before.copy(), node.condition, True)
        then = self._c_block(node.then)
        after_then = self.state
        self.state = narrowed(before.copy(), node.condition, False)
        other = self.compile(node.otherwise) if node.otherwise is not None else None
        self.state = after_then.join(self.state)
        outs = [test, then] + ([other] if other is not None else [])
        fall, blame = worst(outs)
        result = union(then.type, other.type if other is not None else NULL)
        return Out(_if(test, then.fn, other.fn if other is not None else None, node.condition), result, fall,
                   blame)

    def _c_abort(self, node: n.Abort) -> Out:
        message = None
        if node.message is not None:
            out = self.compile(node.message)
            self.require_handled(out, "abort", node.message)
            if out.type.kinds and "string" not in out.type.kinds:
                raise self.error(f"non-string abort message: got {out.type.text()}", node.message,
                                 'abort takes a string, e.g. abort "reason"')
            message = out.fn
        line, column = node.line, node.column

        def abort(c: list[Any]) -> Any:
            text = "aborted"
            if message is not None:
                value = message(c)
                text = value if type(value) is str else str(value)
            raise RemapAbort(text, line=line, column=column)
        return Out(abort, NEVER)

    def _c_return(self, node: n.Return) -> Out:
        value = self.compile(node.value)
        self.require_handled(value, "statement", node.value)
        self.returns.append(value.type)
        self.return_nodes.append(node)
        fn = value.fn

        def return_(c: list[Any]) -> Any:
            raise Returned(fn(c))
        return Out(return_, NEVER)


def _if(test: Out, then: Fn, other: Fn | None, where: n.Node) -> Fn:
    if isinstance(where, n.Block) and where.exprs:
        where = where.exprs[-1]
    line, column = where.line, where.column
    check = test.type.kinds != {"boolean"}
    cond = test.fn
    if not check:
        if other is None:
            return lambda c: then(c) if cond(c) else None
        return lambda c: then(c) if cond(c) else other(c)

    def if_(c: list[Any]) -> Any:
        value = cond(c)
        if value is True:
            return then(c)
        if value is False:
            return other(c) if other is not None else None
        raise ExprError(f"if-statement condition must be a boolean, got {kind_of(value)}", line, column)
    return if_


def sequence(fns: list[Fn]) -> Fn:
    """One closure running ``fns`` in turn, returning the last one's value."""
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        f0, f1 = fns

        def block2(c: list[Any]) -> Any:
            f0(c)
            return f1(c)
        return block2
    if len(fns) == 3:
        g0, g1, g2 = fns

        def block3(c: list[Any]) -> Any:
            g0(c)
            g1(c)
            return g2(c)
        return block3
    if len(fns) == 4:
        h0, h1, h2, h3 = fns

        def block4(c: list[Any]) -> Any:
            h0(c)
            h1(c)
            h2(c)
            return h3(c)
        return block4
    head = fns[:-1]
    tail = fns[-1]

    def block(c: list[Any]) -> Any:
        for f in head:
            f(c)
        return tail(c)
    return block


@functools.lru_cache(maxsize=256)
def compile_program(source: str) -> Compiled:
    """Parse and compile ``source``; raises :class:`RemapCompileError`.

    Kept per source text: a pipeline's programs are compiled when its configuration is checked and again
    when its stages are built, and a compiled program holds no per-record state."""
    from conduix.remap.functions._support import may_make_bytes
    from conduix.remap.parser import parse

    binary = may_make_bytes(source)
    try:
        tree = parse(source)
        compiler = _Compiler(source)
        compiler.moved = moved_reads(tree, compiler.functions, binary=binary)
        outs = []
        for i, expr in enumerate(tree.exprs):
            out = compiler.compile(expr)
            compiler.require_handled(out, "statement", expr)
            outs.append(out)
            if isinstance(expr, n.Literal) and i < len(tree.exprs) - 1:
                compiler.warn(f"unused literal `{source[expr.start:expr.end]}`: this expression has no side-effects; "
                              "use its value or remove it", expr)
    except RecursionError:
        raise RemapCompileError("the program nests too deeply", source=source,
                                hint="split long operator chains or deep nesting with variables") from None
    last = tree.exprs[-1] if tree.exprs else tree
    body, run, batched = generate([(o.emit, o.fn) for o in outs], uses_meta=compiler.uses_meta,
                                 uses_vars=compiler.uses_vars, binary=binary, result_at=(last.line, last.column),
                                 names_of=compiler.names_of,
                                 effect_free=optimistic_prefix(tree, compiler.functions),
                                 ends_with_object=compiler.state.event.kinds == {"object"},
                                 boolean=bool(outs) and outs[-1].type.kinds == {"boolean"})
    result = outs[-1].type if outs else NULL
    for returned in compiler.returns:
        result = union(result, returned)
    for name, where in compiler.assigned.items():
        if name not in compiler.read and not name.startswith("_"):
            compiler.warn(f"unused variable `{name}`: its value is never read; use it, remove it, or name it "
                          f"_{name}", where)
    compiler.warnings.sort(key=lambda w: (w[1], w[2]))
    return Compiled(body, result, compiler.uses_vars, compiler.uses_meta, (last.line, last.column),
                    bool(compiler.returns), compiler.warnings, run, input_copy(tree, binary=binary), batched)
