"""Lines read by the ``file`` and ``stdin`` sources as records, or as rejects that keep their bytes."""

from __future__ import annotations

from typing import Any

import orjson

from conduix.components import Rejected

__all__ = ["line_record", "reject_line", "undecodable"]


def _text(line: bytes, encoding: str) -> tuple[str, bytes | None]:
    """``line`` decoded, and its bytes when they do not decode (the text then has U+FFFD in their place)."""
    try:
        return line.decode(encoding), None
    except UnicodeDecodeError:
        return line.decode(encoding, errors="replace"), line


def reject_line(line: bytes, error: str, encoding: str, meta: dict[str, Any]) -> Rejected:
    """A reject of ``line`` (``{"message": its text}``) that keeps its bytes when they do not decode."""
    text, raw = _text(line, encoding)
    return Rejected(error, record={"message": text}, meta=meta, raw=raw)


def undecodable(encoding: str) -> str:
    return f"line is not valid {encoding}; the dead letter keeps its bytes (raw_base64)"


def line_record(line: bytes, as_json: bool, encoding: str, meta: dict[str, Any]) -> dict[str, Any] | Rejected | None:
    """The record of one line (without its line ending); a reject for invalid JSON or bytes that are not
    ``encoding`` (never replaced silently: the reject keeps the original bytes); None for a blank JSON line."""
    if as_json:
        if not line.strip():
            return None
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return reject_line(line, f"invalid JSON: {exc}", encoding, meta)
        return record if isinstance(record, dict) else {"message": record}
    try:
        return {"message": line.decode(encoding)}
    except UnicodeDecodeError:
        return reject_line(line, undecodable(encoding), encoding, meta)

