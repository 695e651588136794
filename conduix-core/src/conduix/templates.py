"""Templates for names built from a record: ``logs-{{ service }}-%Y.%m.%d``.

``{{ field.path }}`` takes a record field (dotted paths reach into nested objects), and
``{{ @meta.name }}`` a field of the record's metadata (a Kafka record's ``topic``, ``partition`` and
``offset``, a file record's ``line``, ...);
``%`` codes in the literal text are ``strftime`` codes applied to the record's
time, so field values are never read as time codes. The same small language is
used by connectors for names built from records: the Elasticsearch sink's ``index`` and ``id``, the S3
sink's ``key_prefix``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["Template", "TemplateError", "record_time"]

_FIELD = re.compile(r"{{\s*([A-Za-z0-9_@.\-]+)\s*}}")


class TemplateError(ValueError):
    """A record lacks a field its template needs, or the field is not a scalar."""


class Template:
    """A compiled template: literal text (with strftime codes) and record fields."""

    __slots__ = ("_parts", "fields", "source", "uses_meta", "uses_time")

    def __init__(self, source: str) -> None:
        self.source = source
        parts: list[tuple[bool, Any]] = []
        position = 0
        for match in _FIELD.finditer(source):
            if match.start() > position:
                parts.append((False, source[position:match.start()]))
            parts.append((True, match.group(1).split(".")))
            position = match.end()
        if position < len(source):
            parts.append((False, source[position:]))
        if "{{" in "".join(p for is_field, p in parts if not is_field):
            raise ValueError(f"template {source!r}: '{{{{' without a matching '}}}}' around a field name")
        self._parts = parts
        self.fields = [".".join(p) for is_field, p in parts if is_field]
        self.uses_time = any(not is_field and "%" in p for is_field, p in parts)
        self.uses_meta = any(is_field and p[0] == "@meta" for is_field, p in parts)

    @property
    def is_static(self) -> bool:
        return not self.fields and not self.uses_time

    def render(self, record: dict[str, Any], when: datetime | None = None,
               meta: dict[str, Any] | None = None) -> str:
        """The text for ``record`` (and its ``meta``); ``when`` (default: now, UTC) fills the strftime codes."""
        if self.uses_time and when is None:
            when = datetime.now(timezone.utc)
        out: list[str] = []
        for is_field, part in self._parts:
            if is_field:
                if part[0] == "@meta":
                    out.append(_lookup(meta or {}, part[1:], self.source, "metadata"))
                else:
                    out.append(_lookup(record, part, self.source))
            elif when is not None and "%" in part:
                out.append(when.strftime(part))
            else:
                out.append(part)
        return "".join(out)


def _lookup(record: dict[str, Any], path: list[str], source: str, where: str = "record") -> str:
    value: Any = record
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise TemplateError(f"field {'.'.join(path)!r} used by template {source!r} is missing from the {where}")
        value = value[name]
    if value is None or isinstance(value, (dict, list)):
        raise TemplateError(f"field {'.'.join(path)!r} used by template {source!r} is "
                            f"{'null' if value is None else type(value).__name__}, not a scalar")
    return str(value)


def record_time(record: dict[str, Any], field: str | None) -> datetime | None:
    """The record's time from ``field`` (ISO 8601 text, or epoch seconds / milliseconds), UTC.

    ``None`` when there is no such field or it cannot be read, so the caller falls back to now.
    """
    if not field:
        return None
    value = record.get(field)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds since the epoch
        return datetime.fromtimestamp(seconds, timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None
