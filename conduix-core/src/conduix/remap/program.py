"""Compiled remap programs and conditions: the objects users hold and run per record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from conduix.errors import RemapAbort, RemapCompileError, RemapError
from conduix.remap.compiler import Compiled, compile_program
from conduix.remap.paths import clone
from conduix.remap.values import ExprError, Returned, export, kind_of

__all__ = ["Condition", "Program"]

_COPIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]] | None] = {"none": None, "shallow": dict,
                                                                         "deep": clone}


class _Runnable:
    """What a program and a condition share: the source, its compiled forms, its warnings."""

    __slots__ = ("_batched", "_body", "_uses_meta", "_uses_vars", "source", "warnings")

    def __init__(self, source: str, compiled: Compiled) -> None:
        self.source = source
        self._body = compiled.body
        self._uses_vars = compiled.uses_vars
        self._uses_meta = compiled.uses_meta
        assert compiled.batched is not None
        self._batched = compiled.batched
        self.warnings = [f"line {line}, column {column}: {message}" for message, line, column in compiled.warnings]
        """VRL's compile-time warnings: the program runs, but part of it is useless (``now!()``...)."""

    def __reduce__(self) -> tuple[type[_Runnable], tuple[str]]:
        # closures do not pickle; the source does, and compiling it again gives the same program
        return (type(self), (self.source,))

    @property
    def uses_metadata(self) -> bool:
        """Whether it reads or writes ``%`` metadata paths."""
        return bool(self._uses_meta)

    def _value(self, event: dict[str, Any], metadata: dict[str, Any] | None) -> tuple[Any, Any]:
        """Run once: the value of the last expression (or of ``return``) and the event as it ends."""
        state: list[Any] = [event, metadata if metadata is not None or not self._uses_meta else {},
                 {} if self._uses_vars else None]
        try:
            value = self._body(state)
        except ExprError as exc:
            raise RemapError(exc.full_message(), line=exc.line, column=exc.column) from None
        except Returned as ret:
            value = ret.value
        except RecursionError:
            raise RemapError("the program nests too deeply for this value") from None
        return value, state[0]


class Program(_Runnable):
    """A remap program compiled once; :meth:`run` it for every record.

    ``run(event, metadata=None)`` changes the event in place and returns it
    (assigning to ``.`` replaces it, so always use the return value). It
    raises :class:`~conduix.errors.RemapError` (with ``line`` and ``column``)
    on a runtime error, and :class:`~conduix.errors.RemapAbort` on ``abort``.
    On a runtime error the event may be partly changed; callers that must keep
    the original (the ``remap`` stage without ``drop_on_error``) copy it first
    with :attr:`copy_input`.
    """

    __slots__ = ("copy_input", "run")

    run: Callable[..., dict[str, Any]]
    """``run(event, metadata=None) -> event``: the program for one record (generated once, see
    :mod:`conduix.remap.codegen`)."""

    def __init__(self, source: str) -> None:
        compiled = compile_program(source)
        super().__init__(source, compiled)
        assert compiled.run is not None
        self.run = compiled.run
        self.copy_input: Callable[[dict[str, Any]], dict[str, Any]] | None = _COPIES[compiled.copy_input]
        """What keeps an event intact through :meth:`run`: ``None`` when the program never changes the event it
        receives (it replaces the root before writing), ``dict`` when it only sets or deletes top-level fields,
        else a deep copy (:mod:`conduix.remap.ownership`)."""

    def __repr__(self) -> str:
        lines = self.source.strip().splitlines() or [""]
        more = ", ..." if len(lines) > 1 else ""
        return f"Program({lines[0]!r}{more})"

    def run_batch(self, records: Sequence[dict[str, Any]], metas: Sequence[dict[str, Any]] | None = None, *,
                  keep_input: bool = False) -> tuple[list[dict[str, Any] | None],
                                                     list[tuple[int, RemapError | RemapAbort]] | None]:
        """:meth:`run` for every record of a batch, in one generated loop (no Python call per record).

        Returns the events, in order, with None where the program failed or aborted, and those failures as
        ``(index, error)`` (None when there are none). ``metas`` are the records' metadata by the same index
        (read only by programs that use metadata). With ``keep_input`` the records themselves are left
        intact (the program runs on a copy of what it may change: :attr:`copy_input`).
        """
        run_batch = self._batched.run(self.copy_input if keep_input else None)
        events, failures = run_batch(records, metas)
        return events, failures

    def evaluate(self, event: dict[str, Any],
                 metadata: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Run the program; returns ``(value of the last expression, event)``.

        The value is JSON-ready as VRL's test runner shows it (timestamps as
        RFC 3339 strings, regexes as their pattern).
        """
        value, event = self._value(event, metadata)
        return export(value), event


class Condition(_Runnable):
    """A remap expression that decides about a record (``filter``, ``router``)."""

    __slots__ = ("_result_at",)

    def __init__(self, source: str) -> None:
        compiled = compile_program(source)
        if compiled.kinds and "boolean" not in compiled.kinds:
            kinds_text = " or ".join(sorted(compiled.kinds)) or "nothing"
            line, column = compiled.result_at
            raise RemapCompileError(f"a condition must return a boolean, this one returns {kinds_text}",
                                    line=line, column=column, source=source,
                                    hint="compare something, e.g. .status == 200")
        super().__init__(source, compiled)
        self._result_at = compiled.result_at

    def __repr__(self) -> str:
        return f"Condition({self.source.strip()!r})"

    def select(self, records: Sequence[dict[str, Any]], metas: Sequence[dict[str, Any]] | None = None,
               indices: Iterable[int] | None = None) -> tuple[list[int], int, RemapError | None]:
        """:meth:`test` for many records at once: the indices (of ``indices``, default all, in their order)
        of the records the condition holds for, how many records it failed on (an error, or not a boolean:
        not kept), and the first of those errors. ``metas`` are the records' metadata, by the same index
        (only read by conditions that use metadata).

        One generated loop with the condition inline: no Python call per record."""
        select = self._batched.select()
        kept, failed, first = select(records, metas, range(len(records)) if indices is None else indices)
        return kept, failed, first

    def test(self, event: dict[str, Any], metadata: dict[str, Any] | None = None) -> bool:
        """True when the condition holds. A non-boolean result is a :class:`RemapError`."""
        value, _ = self._value(event, metadata)
        if value is True:
            return True
        if value is False:
            return False
        line, column = self._result_at
        raise RemapError(f"a condition must return a boolean, got {kind_of(value)}", line=line, column=column)
