"""Encoding records into object bodies (sink) and decoding object bodies into records (source)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from typing import IO, Any, cast

import orjson

__all__ = ["compress", "decode", "encode_rows", "open_body"]

GZIP_MAGIC = b"\x1f\x8b"


def encode_rows(records: list[dict[str, Any]], encoding: str, csv_fields: list[str] | None) -> tuple[bytes,
                                                                                                    list[bytes]]:
    """The header (csv only, else empty) and one encoded row per record, each ending in a newline."""
    if encoding == "jsonl":
        dumps = orjson.dumps
        return b"", [dumps(r) + b"\n" for r in records]
    fields = csv_fields or _fields(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    header = buffer.getvalue().encode()
    rows: list[bytes] = []
    for record in records:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(record.get(name)) for name in fields])
        rows.append(buffer.getvalue().encode())
    return header, rows


def _fields(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for name in record:
            seen.setdefault(name, None)
    return list(seen)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def compress(data: bytes, compression: str, level: int) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=level, mtime=0)  # mtime=0: same records, same bytes
    return data


def open_body(body: IO[bytes], compression: str) -> IO[bytes]:
    """A binary stream of the object's content; gzip is detected from its first bytes when 'auto'."""
    reader = io.BufferedReader(cast(Any, body), buffer_size=1 << 16)
    if compression == "gzip" or (compression == "auto" and reader.peek(2)[:2] == GZIP_MAGIC):
        return gzip.GzipFile(fileobj=reader, mode="rb")  # type: ignore[return-value]
    return reader


def decode(stream: IO[bytes], fmt: str, text_encoding: str, delimiter: str) -> Iterator[tuple[dict[str, Any] | None,
                                                                                                str | None]]:
    """Yields ``(record, None)`` for each item (a line for jsonl and lines, a row for csv), or
    ``({"message": raw line}, error)`` for a line that is not JSON.

    Blank lines in jsonl yield ``(None, None)`` so item numbers stay equal to line numbers.
    """
    if fmt == "csv":
        text = io.TextIOWrapper(stream, encoding=text_encoding, errors="replace", newline="")
        for row in csv.DictReader(text, delimiter=delimiter):
            yield dict(row), None
        return
    for raw in stream:
        line = raw.rstrip(b"\r\n")
        if fmt == "lines":
            yield {"message": line.decode(text_encoding, errors="replace")}, None
            continue
        if not line.strip():
            yield None, None
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield {"message": line.decode(text_encoding, errors="replace")}, f"invalid JSON: {exc}"
            continue
        yield (value if isinstance(value, dict) else {"message": value}), None
