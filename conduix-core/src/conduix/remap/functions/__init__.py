"""The remap function library, by theme; :func:`function_table` is what the compiler reads."""

from __future__ import annotations

import functools

from conduix.remap.functions.spec import FunctionSpec, Param

__all__ = ["FunctionSpec", "Param", "function_reference", "function_table", "signature"]

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


_THEMES = {
    "parse": "Parse", "logs": "Parse", "codec": "Codec", "strings": "String", "types": "Type",
    "collections": "Object, array and path", "numbers": "Number", "timestamps": "Timestamp", "misc": "Other",
}


def _kinds_text(kinds: frozenset[str] | None) -> str:
    return "any" if kinds is None else " | ".join(sorted(kinds))


def signature(spec: FunctionSpec) -> str:
    """``name(param: kinds, [opt: kinds = default]) -> kinds`` for the docs."""
    import json

    parts = []
    for param in spec.params:
        text = f"{param.name}: {_kinds_text(param.kinds)}" if not spec.path_arg or param is not spec.params[0] \
            else f"{param.name}: path"
        if not param.required:
            default = "null" if param.default is None else json.dumps(
                list(param.default) if isinstance(param.default, tuple) else param.default)
            text = f"[{text} = {default}]"
        parts.append(text)
    closure = ""
    if spec.closure is not None:
        names = {1: "|value|", 2: "|key, value|"}.get(len(spec.closure), "|...|")
        if spec.name == "map_keys":
            names = "|key|"
        closure = f" -> {names} {{ ... }}"
    return f"{spec.name}({', '.join(parts)}){closure} -> {_kinds_text(spec.returns)}"


def function_reference() -> str:
    """The Markdown function reference of ``docs/remap.md`` (kept in sync by a test)."""
    import importlib

    lines: list[str] = []
    for module_name in sorted(_MODULES, key=lambda m: (list(_THEMES).index(m), m)):
        module = importlib.import_module(f"conduix.remap.functions.{module_name}")
        theme = _THEMES[module_name]
        if not lines or (lines[-1] != f"### {theme}" and f"### {theme}" not in lines):
            lines += ["", f"### {theme}", ""]
        for spec in sorted(module.FUNCTIONS, key=lambda s: s.name):
            if spec.fallible:
                can_fail = "always fallible"
            elif spec.fallible_unless is not None:
                can_fail = f"fallible unless the first argument is {_kinds_text(spec.fallible_unless)}"
            elif any(p.kinds is not None for p in spec.params):
                can_fail = "fails only on an argument of the wrong kind"
            else:
                can_fail = "infallible"
            lines.append(f"- `{signature(spec)}` ({can_fail})  ")
            lines.append(f"  {spec.summary}" + (f" Example: `{spec.example}`" if spec.example else ""))
    return "\n".join(lines).strip() + "\n"
