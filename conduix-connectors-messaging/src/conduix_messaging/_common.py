"""What the NATS and AMQP connectors share: payload decoding and encoding."""

from __future__ import annotations

from typing import Any, Literal

import orjson

__all__ = ["decode_payload", "encode_record"]

PayloadFormat = Literal["json", "text", "bytes"]


def decode_payload(data: bytes, fmt: PayloadFormat) -> dict[str, Any]:
    """A record from a message body; raises ``ValueError`` when ``json`` does not parse or ``text`` is not
    UTF-8 (never replaced silently: the reject keeps the body's bytes)."""
    if fmt == "json":
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        return value if isinstance(value, dict) else {"message": value}
    if fmt == "text":
        try:
            return {"message": data.decode("utf-8")}
        except UnicodeDecodeError as exc:
            raise ValueError(f"the body is not valid UTF-8 ({exc.reason} at byte {exc.start}); the dead letter "
                             "keeps its bytes (raw_base64)") from None
    return {"message": data}


def encode_record(record: dict[str, Any], fmt: PayloadFormat, field: str) -> bytes:
    """A message body from a record: the whole record as JSON, or one field as text/bytes."""
    if fmt == "json":
        return orjson.dumps(record, default=str)
    value = record.get(field, "")
    if isinstance(value, bytes):
        return value
    return str(value).encode()

