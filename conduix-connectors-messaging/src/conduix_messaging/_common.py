"""What the NATS and AMQP connectors share: payload decoding and encoding, subject/key templates."""

from __future__ import annotations

import string
from typing import Any, Literal

import orjson

from conduix.errors import ConfigError

__all__ = ["Template", "decode_payload", "encode_record"]

PayloadFormat = Literal["json", "text", "bytes"]


def decode_payload(data: bytes, fmt: PayloadFormat) -> dict[str, Any]:
    """A record from a message body; raises ``ValueError`` when ``json`` does not parse."""
    if fmt == "json":
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        return value if isinstance(value, dict) else {"message": value}
    if fmt == "text":
        return {"message": data.decode("utf-8", errors="replace")}
    return {"message": data}


def encode_record(record: dict[str, Any], fmt: PayloadFormat, field: str) -> bytes:
    """A message body from a record: the whole record as JSON, or one field as text/bytes."""
    if fmt == "json":
        return orjson.dumps(record, default=str)
    value = record.get(field, "")
    if isinstance(value, bytes):
        return value
    return str(value).encode()


class Template:
    """``orders.{region}.{kind}``: fields of the record filled in; a plain string costs nothing."""

    def __init__(self, text: str, *, what: str) -> None:
        self.text = text
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ConfigError(f"{what} template {text!r} is malformed: {exc}",
                              hint="fields are written {name}; write {{ and }} for literal braces") from None
        self.parts = [(literal, name or None) for literal, name, _, _ in parsed]
        self.fields = [name for _, name in self.parts if name]
        self.static = not self.fields

    def render(self, record: dict[str, Any]) -> str:
        """The filled template (``{a.b}`` reaches into nested objects); ``KeyError`` names a missing field."""
        if self.static:
            return self.text
        out: list[str] = []
        for literal, name in self.parts:
            out.append(literal)
            if name is not None:
                out.append(str(lookup(record, name)))
        return "".join(out)


def lookup(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"record has no field {path!r}")
        value = value[part]
    return value
