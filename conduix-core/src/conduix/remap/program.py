"""Compiled remap programs and conditions: the objects users hold and run per record."""

from __future__ import annotations

from typing import Any

from conduix.errors import RemapCompileError, RemapError
from conduix.remap.compiler import compile_program
from conduix.remap.values import ExprError, export, kind_of

__all__ = ["Condition", "Program"]


class Program:
    """A remap program compiled once; :meth:`run` it for every record.

    ``run`` changes the event in place and returns it (assigning to ``.``
    replaces it, so always use the return value). On a runtime error the
    event may be partly changed; callers that must keep the original (the
    ``remap`` stage without ``drop_on_error``) copy it first.
    """

    __slots__ = ("_body", "_plain", "_uses_meta", "_uses_vars", "source")

    def __init__(self, source: str) -> None:
        compiled = compile_program(source)
        self.source = source
        self._body = compiled.body
        self._uses_vars = compiled.uses_vars
        self._uses_meta = compiled.uses_meta
        self._plain = not compiled.uses_vars and not compiled.uses_meta

    def __repr__(self) -> str:
        lines = self.source.strip().splitlines() or [""]
        more = ", ..." if len(lines) > 1 else ""
        return f"Program({lines[0]!r}{more})"

    def __reduce__(self) -> tuple[type[Program], tuple[str]]:
        # closures do not pickle; the source does, and compiling it again gives the same program
        return (Program, (self.source,))

    @property
    def uses_metadata(self) -> bool:
        """Whether the program reads or writes ``%`` metadata paths."""
        return bool(self._uses_meta)

    def run(self, event: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the program on ``event``; returns the resulting event.

        Raises :class:`~conduix.errors.RemapError` (with ``line`` and ``column``)
        on a runtime error and :class:`~conduix.errors.RemapAbort` on ``abort``.
        """
        if self._plain:  # neither metadata nor variables: the common, fastest case
            state: list[Any] = [event, metadata, None]
        else:
            state = [event, metadata if metadata is not None or not self._uses_meta else {},
                     {} if self._uses_vars else None]
        try:
            self._body(state)
        except ExprError as exc:
            raise RemapError(exc.full_message(), line=exc.line, column=exc.column) from None
        except RecursionError:
            raise RemapError("the program nests too deeply for this value") from None
        result: dict[str, Any] = state[0]
        return result

    def evaluate(self, event: dict[str, Any],
                 metadata: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Run the program; returns ``(value of the last expression, event)``.

        The value is JSON-ready as VRL's test runner shows it (timestamps as
        RFC 3339 strings, regexes as their pattern).
        """
        state: list[Any] = [event, metadata if metadata is not None or not self._uses_meta else {},
                 {} if self._uses_vars else None]
        try:
            value = self._body(state)
        except ExprError as exc:
            raise RemapError(exc.full_message(), line=exc.line, column=exc.column) from None
        except RecursionError:
            raise RemapError("the program nests too deeply for this value") from None
        return export(value), state[0]


class Condition:
    """A remap expression that decides about a record (``filter``, ``router``)."""

    __slots__ = ("_body", "_result_at", "_uses_meta", "_uses_vars", "source")

    def __init__(self, source: str) -> None:
        compiled = compile_program(source)
        if compiled.kinds is not None and "boolean" not in compiled.kinds and "any" not in compiled.kinds:
            kinds_text = " or ".join(sorted(compiled.kinds)) or "nothing"
            line, column = compiled.result_at
            raise RemapCompileError(f"a condition must return a boolean, this one returns {kinds_text}",
                                    line=line, column=column, source=source,
                                    hint="compare something, e.g. .status == 200")
        self.source = source
        self._body = compiled.body
        self._uses_vars = compiled.uses_vars
        self._uses_meta = compiled.uses_meta
        self._result_at = compiled.result_at

    def __repr__(self) -> str:
        return f"Condition({self.source.strip()!r})"

    def __reduce__(self) -> tuple[type[Condition], tuple[str]]:
        return (Condition, (self.source,))

    def test(self, event: dict[str, Any], metadata: dict[str, Any] | None = None) -> bool:
        """True when the condition holds. A non-boolean result is a :class:`RemapError`."""
        state: list[Any] = [event, metadata if metadata is not None or not self._uses_meta else {},
                 {} if self._uses_vars else None]
        try:
            value = self._body(state)
        except ExprError as exc:
            raise RemapError(exc.full_message(), line=exc.line, column=exc.column) from None
        except RecursionError:
            raise RemapError("the program nests too deeply for this value") from None
        if value is True:
            return True
        if value is False:
            return False
        line, column = self._result_at
        raise RemapError(f"a condition must return a boolean, got {kind_of(value)}", line=line, column=column)
