"""``{{ field.path }}`` and ``{{ @meta.name }}`` (or ``{{ %name }}``, as in remap) templates for topics,
keys and headers; the same placeholders as the other connectors' templates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from conduix import ConfigError

__all__ = ["Template", "compile_template"]

_PLACEHOLDER = re.compile(r"\{\{\s*(%|@meta\.)?\s*\.?([A-Za-z0-9_.\-]*)\s*\}\}")

Template = Callable[[dict[str, Any], dict[str, Any]], "str | bytes | None"]
"""``render(record, meta)``: the text, or None when a lone placeholder names a missing field."""


def _lookup(parts: list[str], from_meta: bool) -> Callable[[dict[str, Any], dict[str, Any]], Any]:
    def get(record: dict[str, Any], meta: dict[str, Any]) -> Any:
        value: Any = meta if from_meta else record
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_template(text: str, *, option: str) -> Template:
    """Compile once; ``option`` names the config key in error messages."""
    pieces: list[str | Callable[[dict[str, Any], dict[str, Any]], Any]] = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > last:
            pieces.append(text[last:match.start()])
        path = match.group(2)
        if not path:
            raise ConfigError(f"empty placeholder in {text!r}", path=option,
                              hint="name a field: '{{ user.id }}', or metadata: '{{ @meta.key }}'")
        pieces.append(_lookup(path.split("."), bool(match.group(1))))
        last = match.end()
    rest = text[last:]
    if "{{" in rest or "}}" in rest:
        raise ConfigError(f"malformed placeholder in {text!r}", path=option,
                          hint="write placeholders as '{{ field }}' or '{{ @meta.name }}'")
    if rest:
        pieces.append(rest)
    if not pieces:
        return lambda record, meta: text
    if len(pieces) == 1:
        only = pieces[0]
        if isinstance(only, str):
            return lambda record, meta: only

        def single(record: dict[str, Any], meta: dict[str, Any]) -> str | bytes | None:
            value = only(record, meta)
            if value is None or isinstance(value, bytes):
                return value
            return _text(value)

        return single

    def render(record: dict[str, Any], meta: dict[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else _text(p(record, meta)) for p in pieces)

    return render
