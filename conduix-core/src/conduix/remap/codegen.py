"""Straight-line Python for the top level of a program: one function instead of a closure per step.

The closures of :mod:`conduix.remap.compiler` cost one Python call per node.
For the statements of the program's top level, the compiler also writes the
Python a person would write for the common shapes (reading and writing event
fields, function calls with their checks, typed comparisons) into one
function, compiled once with :func:`exec`; anything else is called through its
closure from that function. Both produce the same values and errors: the
generated code raises through the same :class:`~conduix.remap.calls.Site`
objects the closures use.

An *emitter* (``Out.emit``) appends statements to a :class:`Gen` and returns a
Python expression for the node's value. The expression is used exactly once,
by the code that asked for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from conduix.remap.operators import wrap_int
from conduix.remap.paths import clone, get_path, set_path
from conduix.remap.typedefs import NOT_CONST
from conduix.remap.values import ExprError, Returned, values_equal

__all__ = ["Batched", "Emit", "Gen", "RunBatch", "Select", "binary_emit", "field_read", "generate", "plain_literal",
           "set_event", "variable"]

Fn = Callable[[list[Any]], Any]
Emit = Callable[["Gen"], str]
NamesOf = Callable[[Fn], "frozenset[str] | None"]
"""The variables a closure may read or write (``None``: not known, any of them)."""

_VARIABLE = re.compile("\x01([A-Za-z0-9_]*)([\x02\x03])")
_ASSIGNED, _MAYBE = "\x02", "\x03"
_SET_EVENT = "\x04"
_READ = re.compile("\x05([^\x06]*)\x06([^\x07]*)\x07")
_CONTINUED = ("except", "else", "elif", "finally")
_MISSED = "    missed = 0\n"
"""The count of the records an optimistic batch loop started over (:meth:`Batched._steps`)."""


def variable(name: str, *, assigned: bool = False) -> str:
    """The Python of the program variable ``name`` in generated code, as a target or a value.

    Written as a placeholder and settled when the whole function is known (:meth:`Gen.settle`): a Python
    local where no closure the generated code calls reads or writes the variable, else its entry in the
    state's variable dict. ``assigned``: the variable surely holds a value (read as ``c[2][name]`` rather
    than ``c[2].get(name)``). A placeholder is not an identifier, so :meth:`Gen.bind` gives the value a
    name of its own: the variable may be assigned again before that name is used.
    """
    return "\x01" + name + (_ASSIGNED if assigned else _MAYBE)


def field_read(holder: str, key: str) -> str:
    """The Python of the field ``key`` of ``holder``, a dict (the event, a variable known to hold an object):
    ``holder.get(key)``, a missing field being null.

    Written as a placeholder and settled by :meth:`Gen.settle`: the batch loops read a field before the
    program's first effect with a subscript, ``holder[key]``, and start the record over with ``.get`` reads
    when one is missing (:meth:`Batched._steps`)."""
    return f"\x05{holder}\x06{key!r}\x07"


def set_event(value: str) -> str:
    """The statement making ``value`` the event: the local ``e``, and the state's ``c[0]`` unless nothing
    but the generated code reads the event (settled like :func:`variable`)."""
    return f"{_SET_EVENT}e = {value}"


class Gen:
    """The text of one generated function and the values it refers to."""

    def __init__(self, names_of: NamesOf | None = None) -> None:
        self.lines: list[str] = []
        self._names_of = names_of
        self.calls = False
        """Whether the generated code calls closures (which read the per-record state ``c``)."""
        self.shared: set[str] | None = set()
        """The variables that closures called by the generated code read or write (``None``: maybe all): they
        stay in the variable dict; the others are locals of the generated function."""
        self.ns: dict[str, Any] = {
            "ExprError": ExprError, "_get_path": get_path, "_set_path": set_path, "_clone": clone,
            "_eq": values_equal, "_wrap": wrap_int, "_containers": frozenset((dict, list)),
        }
        self._count = 0
        self._refs: dict[int, str] = {}
        self.barrier: int | None = None
        """The lines before this index run before the program's first effect (set while :func:`generate` writes
        the steps: :meth:`effects_from`, :meth:`store_point`)."""
        self._statement = 0
        self._split = False
        self.fast: list[str] | None = None
        """Those lines with their field reads as subscripts (:func:`field_read`), when they read any."""

    def effects_from(self, *, split: bool) -> None:
        """The statement emitted next is the program's first with an effect. ``split``: it is an assignment
        whose value has none, so the lines before its write are still free of effects (its emitter calls
        :meth:`store_point`)."""
        self.barrier = self._statement = len(self.lines)
        self._split = split

    def store_point(self) -> None:
        """An assignment's emitter is about to write its target."""
        if self._split:
            self._split = False
            self.barrier = len(self.lines)

    def ref(self, value: Any) -> str:
        """A name the function can use for ``value``."""
        known = self._refs.get(id(value))
        if known is not None and self.ns[known] is value:
            return known
        name = f"_k{self._count}"
        self._count += 1
        self.ns[name] = value
        self._refs[id(value)] = name
        return name

    def temp(self) -> str:
        name = f"v{self._count}"
        self._count += 1
        return name

    def add(self, line: str) -> None:
        self.lines.append(line)

    def bind(self, expression: str) -> str:
        """``expression`` evaluated now, into a new local name (for values used more than once)."""
        if expression.isidentifier():
            return expression
        name = self.temp()
        self.add(f"{name} = {expression}")
        return name

    def value(self, emit: Emit | None, fn: Fn) -> str:
        """The expression of a node: its emitter's, or (evaluated now) a call of its closure.

        The generated code keeps the event in the local ``e``; a closure may have replaced it, so it is read
        again after one runs.
        """
        if emit is not None:
            return emit(self)
        if self._split:  # a closure may do anything (a call storing into its target): the effect-free lines end
            self._split = False
            self.barrier = len(self.lines)
        self.calls = True
        names = self._names_of(fn) if self._names_of is not None else None
        if names is None:
            self.shared = None
        elif self.shared is not None:
            self.shared.update(names)
        name = self.temp()
        self.add(f"{name} = {self.ref(fn)}(c)")
        self.add("e = c[0]")
        return name

    def settle(self, uses_meta: bool) -> tuple[bool, bool]:
        """Write the placeholders of variables (:func:`variable`) as locals or dict entries, and those of
        event assignments (:func:`set_event`), once every statement is generated. Returns whether any
        variable stays in the dict, and whether the code needs the per-record state ``c`` at all: not when
        it calls no closure and uses no metadata (the event then lives in ``e`` alone)."""
        shared = self.shared
        in_dict = False
        needs_state = self.calls or uses_meta

        def spell(match: re.Match[str]) -> str:
            nonlocal in_dict
            name, how = match.group(1), match.group(2)
            if shared is None or name in shared:
                in_dict = True
                return f"c[2][{name!r}]" if how == _ASSIGNED else f"c[2].get({name!r})"
            return f"x_{name}"
        lines = [_VARIABLE.sub(spell, line) if "\x01" in line else line for line in self.lines]
        lines = [line.replace(_SET_EVENT, "c[0] = " if needs_state else "") for line in lines]
        barrier = self.barrier or 0
        if not _between_statements(lines, barrier):
            barrier = self._statement  # the write is not a statement of the top level: stop before the assignment
        reads = [k for k, line in enumerate(lines[:barrier]) if "\x05" in line]
        if reads:  # up to the first statement boundary after the last read: the lines after it need no second form
            end = next(k for k in range(reads[-1] + 1, barrier + 1) if _between_statements(lines, k))
            self.fast = [_READ.sub(r"\1[\2]", line) for line in lines[:end]]
        self.lines = [_READ.sub(r"\1.get(\2)", line) if "\x05" in line else line for line in lines]
        return in_dict or shared is None or bool(shared), needs_state


def _between_statements(lines: list[str], k: int) -> bool:
    """Whether ``lines[k]`` starts a statement of the top level (or ``k`` is the end)."""
    return k >= len(lines) or not (lines[k][:1].isspace() or lines[k].startswith(_CONTINUED))


def plain_literal(value: Any) -> bool:
    """Whether ``repr(value)`` is the Python literal of a remap literal."""
    t = type(value)
    return value is None or t in (bool, str) or (t in (int, float) and value == value and abs(value) != float("inf"))


def generate(steps: list[tuple[Emit | None, Fn]], *, uses_meta: bool = False, uses_vars: bool = False,
             binary: bool = False, result_at: tuple[int, int] = (1, 1), names_of: NamesOf | None = None,
             effect_free: tuple[int, bool] = (0, False), ends_with_object: bool = False,
             boolean: bool = False) -> tuple[Fn, Callable[..., Any], Batched]:
    """Functions from the top-level ``steps``: ``body(c)``, the value of the last step (for ``evaluate``
    and conditions); ``run(event, metadata=None)``, what :meth:`Program.run` does for one record:
    the per-record state, the steps, the error translation and the check that the result is an object;
    and their batch forms, written on first use (:class:`Batched`).

    ``names_of(fn)``: the variables the closure ``fn`` may touch; the others become Python locals.
    ``effect_free``: how many steps come before the first effect, and whether that one runs up to its write
    before it has one (:func:`conduix.remap.ownership.optimistic_prefix`). ``ends_with_object``: the types
    prove that the event is an object when the program ends without ``return`` (no check per record);
    ``boolean``: that the last step's value is a boolean."""
    gen = Gen(names_of)
    last = "None"
    before, split = effect_free
    for k, (emit, fn) in enumerate(steps):
        if k == before:
            gen.effects_from(split=split)
        last = gen.bind(gen.value(emit, fn))
        gen._split = False  # an assignment that did not say where it writes keeps the lines before it
    if before >= len(steps):
        gen.barrier = len(gen.lines)
    in_dict, state = gen.settle(uses_meta)
    uses_vars = in_dict and uses_vars  # only closures read variables through the dict
    lines = ["e = c[0]", *gen.lines] + ([] if state else ["c[0] = e"])  # evaluate() reads the event in c
    body = "\n".join(f"    {line}" for line in lines)
    meta = "metadata if metadata is not None else {}" if uses_meta else "metadata"
    steps_in_try = "\n".join(f"        {line}" for line in gen.lines) or "        pass"
    source = (
        f"def _remap_body(c):\n{body}\n    return {last}\n\n"
        f"def _remap_run(event, metadata=None):\n"
        + (f"    c = [event, {meta}, {'{}' if uses_vars else 'None'}]\n" if state else "")
        + f"    e = event\n"
        f"    try:\n{steps_in_try}\n"
        f"    except ExprError as exc:\n"
        f"        raise _failed(exc) from None\n"
        f"    except _Returned:\n"
        f"        pass\n"
        f"    except RecursionError:\n"
        f"        raise _too_deep() from None\n"
        + ("    e = c[0]\n" if state else "")
        + "    if type(e) is not dict:\n"
        "        raise _not_an_object(e)\n"
        + ("    _printable(e)\n" if binary else "")
        + "    return e\n"
    )
    from conduix.errors import RemapAbort, RemapError
    from conduix.remap.functions._support import printable_in_place
    from conduix.remap.values import kind_of

    line, column = result_at
    gen.ns.update({
        "_Returned": Returned, "_printable": printable_in_place, "_RemapAbort": RemapAbort,
        "_RemapError": RemapError,
        "_failed": lambda exc: RemapError(exc.full_message(), line=exc.line, column=exc.column),
        "_too_deep": lambda: RemapError("the program nests too deeply for this value"),
        "_not_an_object": lambda value: RemapError(
            f"the event root must be an object at the end of the program, got {kind_of(value)}",
            line=line, column=column),
        "_not_a_boolean": lambda value: RemapError(f"a condition must return a boolean, got {kind_of(value)}",
                                                   line=line, column=column),
    })
    exec(compile(source, "<remap program>", "exec"), gen.ns)
    batched = Batched(gen, last, uses_meta=uses_meta, uses_vars=uses_vars, binary=binary, state=state,
                      ends_with_object=ends_with_object, boolean=boolean)
    return gen.ns["_remap_body"], gen.ns["_remap_run"], batched


Select = Callable[[Sequence[dict[str, Any]], Any, Any], tuple[list[int], int, Any]]
"""``select(records, metas, indices) -> (kept, failed, first_error)``: see :meth:`Condition.select`."""

RunBatch = Callable[[Sequence[dict[str, Any]], Any], tuple[list[Any], Any]]
"""``run_batch(records, metas) -> (events, failures)``: see :meth:`Program.run_batch`."""


class Batched:
    """Writes, on first use, the batch forms of a program: one loop over a batch's records with the steps
    inline, instead of a call (with its state and error handling) per record. Each gives the values and errors
    the per-record form gives; a program never run on batches never pays for compiling them."""

    def __init__(self, gen: Gen, last: str, *, uses_meta: bool, uses_vars: bool, binary: bool,
                 state: bool = True, ends_with_object: bool = False, boolean: bool = False) -> None:
        self._gen, self._last = gen, last
        self._object, self._boolean = ends_with_object, boolean
        self._uses_meta, self._uses_vars, self._binary = uses_meta, uses_vars, binary
        self._stateful = state
        self.optimistic = gen.fast is not None
        """Whether the loops read fields with a subscript before the program's first effect (:meth:`_steps`)."""
        self._select: Select | None = None
        self._runs: dict[Any, RunBatch] = {}
        self._lock = threading.Lock()

    def _steps(self, indent: str, optimistic: bool) -> str:
        """The steps of one record. ``optimistic``: their lines before the first effect read fields with a
        subscript (:func:`field_read`): a missing field raises ``KeyError`` before anything was changed, and
        the record starts over with ``.get`` reads (a fresh variable dict; ``missed`` counts it), so the
        result is what the ``.get`` reads alone give, and a record that has its fields pays for no method
        call."""
        lines, fast = self._gen.lines, self._gen.fast
        if not optimistic or fast is None:
            return "\n".join(f"{indent}{line}" for line in lines) or f"{indent}pass"
        inner = indent + "    "
        again = ["missed += 1", *(["c[2] = {}"] if self._stateful and self._uses_vars else []), *lines[:len(fast)]]
        return "\n".join([f"{indent}try:", *(inner + line for line in fast), f"{indent}except KeyError:",
                          *(inner + line for line in again), *(indent + line for line in lines[len(fast):])])

    def _passed(self, known: bool) -> str:
        """The statements passing a record's event on when the program ran to its end (or returned); an event
        that is not an object (``known``: it surely is) is the record's failure, ``problem``."""
        lines = [*(["e = c[0]"] if self._stateful else []), *(["_printable(e)"] if self._binary else []),
                 "append(e)", "continue"]
        if not known:
            lines = [*lines[:-3], "if type(e) is dict:", *(f"    {line}" for line in lines[-3:]),
                     "problem = _not_an_object(e)"]
        return "".join(f"            {line}\n" for line in lines)

    def _state(self, first: str, indent: str) -> str:
        """The statements starting a record: the per-record state ``c`` (when the steps need it) and ``e``."""
        if not self._stateful:
            return "" if first == "e" else f"{indent}e = {first}\n"
        meta = "(metas[i] if metas is not None else {})" if self._uses_meta else "None"
        return f"{indent}c = [{first}, {meta}, {'{}' if self._uses_vars else 'None'}]\n{indent}e = c[0]\n"

    def _compile(self, source: str, name: str, filename: str) -> Any:
        ns = self._gen.ns
        code = compile(source, filename, "exec")
        scope: dict[str, Any] = {}
        exec(code, ns, scope)  # the values the steps refer to are the generated run's, shared
        function = scope[name]
        return function

    def select(self) -> Select:
        """``select(records, metas, indices)``: :meth:`Condition.test` for the records at ``indices``."""
        with self._lock:
            if self._select is None:
                self._select = self._either(self._write_select)
        return self._select

    def _either(self, write: Callable[[bool], Any]) -> Any:
        """The loop ``write(optimistic)`` writes: the one that reads optimistically when the program has one,
        turning to the other for a while after a batch where many records lacked a field (:class:`_Guess`)."""
        if not self.optimistic:
            return write(False)
        return _Guess(write(True), lambda: write(False))

    def _write_select(self, optimistic: bool) -> Select:
        source = (
            f"def _remap_select(records, metas, indices):\n"
            f"    kept = []\n"
            f"    keep = kept.append\n"
            f"    failed = 0\n"
            f"    first = None\n"
            f"{_MISSED if optimistic else ''}"
            f"    for i in indices:\n"
            f"        e = records[i]\n"
            f"{self._state('e', ' ' * 8)}"
            f"        try:\n{self._steps(' ' * 12, optimistic)}\n"
            + ("" if self._boolean else f"            r = {self._last}\n")
            + "        except ExprError as exc:\n"
            "            failed += 1\n"
            "            if first is None:\n"
            "                first = _failed(exc)\n"
            "            continue\n"
            "        except _RemapError as exc:\n"
            "            failed += 1\n"
            "            if first is None:\n"
            "                first = exc\n"
            "            continue\n"
            "        except _Returned as ret:\n"
            "            r = ret.value\n"
            "        except RecursionError:\n"
            "            failed += 1\n"
            "            if first is None:\n"
            "                first = _too_deep()\n"
            "            continue\n"
            + (f"        else:\n"  # the value is a boolean: kept or not, no check
               f"            if {self._last}:\n"
               f"                keep(i)\n"
               f"            continue\n" if self._boolean else "")
            + f"        if r is True:\n"
            f"            keep(i)\n"
            f"        elif r is not False:\n"
            f"            failed += 1\n"
            f"            if first is None:\n"
            f"                first = _not_a_boolean(r)\n"
            f"    return {'(kept, failed, first), missed' if optimistic else 'kept, failed, first'}\n"
        )
        select: Select = self._compile(source, "_remap_select", "<remap condition>")
        return select

    def run(self, copy: Callable[[dict[str, Any]], dict[str, Any]] | None) -> RunBatch:
        """``run_batch(records, metas)``: :meth:`Program.run` for each record (on ``copy(record)`` when
        ``copy`` is given); a record the program fails on (``abort`` too) leaves None in its place."""
        with self._lock:  # a compiled program is shared (compile_program keeps it per source text)
            runner = self._runs.get(copy)
            if runner is None:
                runner = self._runs[copy] = self._either(lambda optimistic: self._write_run(copy, optimistic))
        return runner

    def _write_run(self, copy: Callable[[dict[str, Any]], dict[str, Any]] | None, optimistic: bool) -> RunBatch:
        first = "e" if copy is None else f"{self._gen.ref(copy)}(e)"
        source = (
            f"def _remap_run_batch(records, metas):\n"
            f"    out = []\n"
            f"    append = out.append\n"
            f"    failures = None\n"
            f"{_MISSED if optimistic else ''}"
            f"    i = -1\n"
            f"    for e in records:\n"
            f"        i += 1\n"
            f"{self._state(first, ' ' * 8)}"
            f"        try:\n{self._steps(' ' * 12, optimistic)}\n"
            f"        except ExprError as exc:\n"
            f"            problem = _failed(exc)\n"
            f"        except _Returned:\n"
            f"            problem = None\n"
            f"        except (_RemapAbort, _RemapError) as exc:\n"
            f"            problem = exc\n"
            f"        except RecursionError:\n"
            f"            problem = _too_deep()\n"
            f"        else:\n{self._passed(self._object)}"
            f"        if problem is None:  # returned\n{self._passed(False)}"
            "        if failures is None:\n"
            "            failures = []\n"
            "        failures.append((i, problem))\n"
            "        append(None)\n"
            f"    return {'(out, failures), missed' if optimistic else 'out, failures'}\n"
        )
        run: RunBatch = self._compile(source, "_remap_run_batch", "<remap program>")
        return run


class _Guess:
    """A batch loop that reads fields optimistically, and the one that does not (``write_plain()`` writes it
    when first needed). A record lacking one of the fields runs its first statements twice (and raises on the
    way): after a batch where more than one record in eight did, the next ``PATIENCE`` batches run the other
    loop, then the optimistic one is tried again."""

    PATIENCE = 32
    __slots__ = ("optimistic", "plain", "rest", "write_plain")

    def __init__(self, optimistic: Callable[..., tuple[Any, int]], write_plain: Callable[[], Callable[..., Any]]
                 ) -> None:
        self.optimistic, self.write_plain, self.rest = optimistic, write_plain, 0
        self.plain: Callable[..., Any] | None = None

    def __call__(self, records: Sequence[dict[str, Any]], *args: Any) -> Any:
        if self.rest:  # shared by the threads running the program: a lost update only shifts the next try
            self.rest -= 1
            if self.plain is None:
                self.plain = self.write_plain()
            return self.plain(records, *args)
        result, missed = self.optimistic(records, *args)
        if missed * 8 > len(records):
            self.rest = self.PATIENCE
        return result


def indent(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


_SCALARS = frozenset({"string", "integer", "float", "boolean", "null"})
_ORDERED = {"<", "<=", ">", ">="}


def binary_emit(op: str, left: Any, right: Any) -> Emit | None:
    """The emitter of ``left op right`` when the operands' types make it plain Python (else ``None``).

    ``left`` and ``right`` are compiled expressions (:class:`~conduix.remap.compiler.Out`); the operator
    is known not to fail (its fallibility is 0).
    """
    lk, rk = left.type.kinds, right.type.kinds

    right_is_literal = right.emit is not None and right.const is not NOT_CONST

    def operands(g: Gen) -> tuple[str, str]:
        """Both operands, the left one evaluated first: bound to a name before the right one's statements."""
        a = g.value(left.emit, left.fn)
        if not right_is_literal:
            a = g.bind(a)
        return a, g.value(right.emit, right.fn)

    if op in _ORDERED or (op in ("==", "!=") and len(lk) == 1 and lk == rk and lk <= _SCALARS) or \
            (op == "+" and lk == rk == {"string"}):
        def plain(g: Gen) -> str:
            a, b = operands(g)
            return f"({a} {op} {b})"
        return plain
    if op in ("==", "!=") and (type(right.const) is str or type(left.const) is str):
        # against a string literal only a string can be equal (what ``_eq`` says): no call per record
        other_is_right = type(left.const) is str
        differ = "True" if op == "!=" else "False"

        def against_string(g: Gen) -> str:
            a, b = operands(g)
            other = b if other_is_right else a
            if not other.isidentifier():
                other = g.bind(other)
                a, b = (a, other) if other_is_right else (other, b)
            return f"(({a} {op} {b}) if type({other}) is str else {differ})"
        return against_string
    if op in ("==", "!="):
        neg = "not " if op == "!=" else ""

        def equal(g: Gen) -> str:
            a, b = operands(g)
            return f"({neg}_eq({a}, {b}))"
        return equal
    if op in ("+", "-", "*") and lk == rk == {"integer"}:
        def integer(g: Gen) -> str:
            a, b = operands(g)
            result = g.temp()
            return (f"({result} if -9223372036854775808 <= ({result} := {a} {op} {b}) <= 9223372036854775807 "
                    f"else _wrap({result}))")
        return integer
    return None  # && || ?? run their right side only sometimes: the closure does it
