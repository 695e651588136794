"""The remap function library, by theme; :func:`function_table` is what the compiler reads."""

from __future__ import annotations

import functools

from conduix.remap.functions.spec import FunctionSpec, Param

__all__ = ["FunctionSpec", "Param", "function_table"]

_MODULES = ("codec", "collections", "logs", "misc", "numbers", "parse", "strings", "timestamps", "types")


@functools.lru_cache(maxsize=1)
def function_table() -> dict[str, FunctionSpec]:
    """Every remap function by name (built on first use, then shared: specs are immutable)."""
    import importlib

    table: dict[str, FunctionSpec] = {}
    for module_name in _MODULES:
        module = importlib.import_module(f"conduix.remap.functions.{module_name}")
        for spec in module.FUNCTIONS:
            if spec.name in table:
                raise RuntimeError(f"remap function {spec.name!r} is defined twice")
            table[spec.name] = spec
    return table
