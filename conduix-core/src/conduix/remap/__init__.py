"""Remap: a subset of Vector's VRL, compiled once into Python closures.

>>> from conduix.remap import compile
>>> compile('.level = upcase!(.level)').run({"level": "info"})
{'level': 'INFO'}
"""

from __future__ import annotations

from conduix.remap.program import Condition, Program

__all__ = ["Condition", "Program", "compile", "compile_condition", "function_names"]


def compile(source: str) -> Program:
    """Compile a remap program; raises :class:`~conduix.errors.RemapCompileError`."""
    return Program(source)


def compile_condition(source: str) -> Condition:
    """Compile a condition (an expression returning a boolean) for ``filter`` and ``router``."""
    return Condition(source)


def function_names() -> list[str]:
    """The names of every remap function, sorted."""
    from conduix.remap.functions import function_table

    return sorted(function_table())
