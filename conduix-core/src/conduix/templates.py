"""Templates for names built from a record: ``logs-{{ service }}-%Y.%m.%d``, ``orders.{{ region }}``.

One syntax for every connector option that builds text from records (the Elasticsearch sink's ``index``
and ``id``, the S3 sink's ``key_prefix``, the Kafka sink's ``topic``, ``key`` and ``headers``, the NATS
sink's ``subject``, the AMQP sink's ``routing_key``, ...):

- ``{{ field }}`` takes a record field; ``{{ a.b.c }}`` reaches into nested objects (``{{ .field }}``, as
  in remap, is the same);
- ``{{ @meta.name }}`` (or ``{{ %name }}``, as in remap) takes a field of the record's metadata (a Kafka
  record's ``topic``, ``partition``, ``offset``, ``key``; a file record's ``line``; ...);
- with ``strftime=True`` (the options that say so, like ``index``), ``%`` codes in the literal text are
  ``strftime`` codes applied to the record's time, so field values are never read as time codes.

A field that is missing or null, or holds an object or a list, makes :meth:`Template.render` raise
:class:`TemplateError`: the record goes where the component's ``on_error`` says. Booleans render as
``true``/``false``, bytes as UTF-8 text.

``{field}`` (single braces, the messaging connectors' first syntax) is still read, as a deprecated alias
of ``{{ field }}``, in a template that has no ``{{``; a warning says how to write it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator

from conduix.errors import ConfigError, TemplateError

__all__ = ["Template", "TemplateError", "TemplateText", "record_time"]

logger = logging.getLogger(__name__)

_NAME = r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*"
_FIELD = re.compile(r"{{\s*(@meta\.|%)?\s*\.?(" + _NAME + r")\s*}}")
_LEGACY = re.compile(r"{\s*(@meta\.|%)?\.?(" + _NAME + r")\s*}")

Getter = Callable[[dict[str, Any], "dict[str, Any] | None"], Any]


def _getter(path: list[str], from_meta: bool) -> Getter:
    if not from_meta and len(path) == 1:  # the common case, one dict lookup
        name = path[0]
        return lambda record, meta: record.get(name) if type(record) is dict else None

    def get(record: dict[str, Any], meta: dict[str, Any] | None) -> Any:
        value: Any = meta if from_meta else record
        for part in path:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


def _text(value: Any) -> str | None:
    """A scalar as text; None for what no name can hold (missing, null, objects, lists)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None


class Template:
    """A compiled template: literal text (with strftime codes when asked for) and record fields.

    ``Template("logs-{{ service }}-%Y.%m.%d", strftime=True).render(record, when, meta)``; ``option``
    names the config key in the error a malformed template raises (a :class:`~conduix.errors.ConfigError`).
    """

    __slots__ = ("_parts", "fields", "source", "strftime", "uses_meta", "uses_time")

    def __init__(self, source: str, *, strftime: bool = False, option: str | None = None) -> None:
        self.source = source
        self.strftime = strftime
        text = source
        if "{{" not in source and _LEGACY.search(source):
            text = _LEGACY.sub(lambda m: "{{ " + (m.group(1) or "") + m.group(2) + " }}", source)
            logger.warning("%s%r uses the deprecated template syntax '{field}'; write %r", f"{option}: " if option
                           else "template ", source, text)
        parts: list[tuple[Getter | None, str]] = []  # (None, literal text) or (getter, field name)
        position = 0
        for match in _FIELD.finditer(text):
            if match.start() > position:
                parts.append((None, text[position:match.start()]))
            from_meta = match.group(1) is not None
            parts.append((_getter(match.group(2).split("."), from_meta),
                          ("@meta." if from_meta else "") + match.group(2)))
            position = match.end()
        if position < len(text):
            parts.append((None, text[position:]))
        literal = "".join(text for getter, text in parts if getter is None)
        if "{{" in literal or "}}" in literal:
            raise ConfigError(f"template {source!r} has a '{{{{' or '}}}}' that is not around a field name",
                              path=option, hint="write fields as '{{ field }}', metadata as '{{ @meta.name }}'")
        self._parts = parts
        self.fields = [name for getter, name in parts if getter is not None]
        self.uses_time = strftime and "%" in literal
        self.uses_meta = any(name.startswith("@meta.") for name in self.fields)

    @property
    def is_static(self) -> bool:
        """The template is plain text: every record gets the same."""
        return not self.fields and not self.uses_time

    def render(self, record: dict[str, Any], when: datetime | None = None,
               meta: dict[str, Any] | None = None) -> str:
        """The text for ``record`` (and its ``meta``); ``when`` (default: now, UTC) fills the strftime codes.

        Raises :class:`TemplateError` naming the field when one is missing or not a scalar."""
        if self.uses_time and when is None:
            when = datetime.now(timezone.utc)
        out: list[str] = []
        for getter, part in self._parts:
            if getter is not None:
                value = getter(record, meta)
                text = _text(value)
                if text is None:
                    raise self._error(part, value)
                out.append(text)
            elif when is not None and self.uses_time and "%" in part:
                out.append(when.strftime(part))
            else:
                out.append(part)
        return "".join(out)

    def value(self, record: dict[str, Any], meta: dict[str, Any] | None = None) -> str | bytes | None:
        """Like :meth:`render`, but a template that is one field alone gives that field's bytes as they are
        and None when the field is missing or null (a Kafka key: no key)."""
        getter = self._parts[0][0] if len(self._parts) == 1 else None
        if getter is not None:
            found = getter(record, meta)
            if found is None or isinstance(found, (str, bytes)):
                return found
        return self.render(record, None, meta)

    def _error(self, name: str, value: Any) -> TemplateError:
        where = "metadata" if name.startswith("@meta.") else "record"
        field = name.removeprefix("@meta.")
        if value is None:
            return TemplateError(f"field {field!r} used by template {self.source!r} is missing from the {where}"
                                 " (or null)")
        return TemplateError(f"field {field!r} used by template {self.source!r} is {type(value).__name__}, "
                             "not a scalar")


def _check(text: str) -> str:
    Template(text)
    return text


TemplateText = Annotated[str, AfterValidator(_check)]
"""A config field holding a template: ``topic: TemplateText = Field(...)`` (a malformed one is an error at
its YAML location)."""


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
