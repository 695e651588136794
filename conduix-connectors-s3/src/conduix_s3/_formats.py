"""Encoding records into object bodies (sink) and decoding object bodies into records (source)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from typing import IO, Any, cast

import orjson

__all__ = ["Item", "compress", "decode", "encode_rows", "open_body"]

GZIP_MAGIC = b"\x1f\x8b"


def encode_rows(records: list[dict[str, Any]], encoding: str, csv_fields: list[str] | None) -> tuple[bytes,
                                                                                                    list[bytes]]:
    """The header (csv only, else empty) and one encoded row per record, each ending in a newline."""
    if encoding == "jsonl":
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        return b"", [dumps(r, option=newline) for r in records]
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


#: a decoded item: ``(record, None, None)``; ``(None, None, None)`` for a blank jsonl line (item numbers stay
#: equal to line numbers); ``(record, error, raw)`` for a reject: ``raw`` holds the bytes the record cannot
#: hold exactly (they do not decode, or only the first ``max_line_bytes`` of a longer line are kept)
Item = tuple[dict[str, Any] | None, str | None, bytes | None]

_SKIP_CHUNK = 1 << 16


class _Long(bytes):
    """The first ``max_line_bytes`` bytes of a longer line; ``size`` is the line's length in the object."""

    size: int


def _lines(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of ``stream`` without their line ending, never holding more than ``limit`` bytes of one: a
    longer line is a :class:`_Long` of its first ``limit`` bytes, the rest read and dropped in chunks."""
    readline = stream.readline
    while True:
        line = readline(limit + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1]
            continue
        if len(line) <= limit:  # the last line, without a line ending
            yield line
            continue
        long, size = _Long(line[:limit]), len(line)
        while not line.endswith(b"\n"):
            line = readline(_SKIP_CHUNK)
            if not line:
                break
            size += len(line)
        long.size = size - line.endswith(b"\n")
        yield long


def _too_long(line: _Long, limit: int, encoding: str) -> Item:
    return ({"message": line.decode(encoding, errors="replace")},
            f"line of {line.size} bytes is longer than max_line_bytes ({limit}); the dead letter keeps its first "
            f"{limit} bytes", bytes(line))


def _text(line: bytes, encoding: str) -> tuple[str, bytes | None]:
    """``line`` decoded, and its bytes when they do not decode (never replaced silently)."""
    try:
        return line.decode(encoding), None
    except UnicodeDecodeError:
        return line.decode(encoding, errors="replace"), line


def _undecodable(encoding: str) -> str:
    return f"line is not valid {encoding}; the dead letter keeps its bytes (raw_base64)"


def decode(stream: IO[bytes], fmt: str, text_encoding: str, delimiter: str, max_line_bytes: int) -> Iterator[Item]:
    """The items of an object: a line for jsonl and lines, a row for csv (see :data:`Item`).

    Rejects: a jsonl line that is not JSON, a line that does not decode, a line over ``max_line_bytes``.
    """
    if fmt == "csv":
        yield from _csv_rows(stream, text_encoding, delimiter, max_line_bytes)
        return
    for line in _lines(stream, max_line_bytes):
        if isinstance(line, _Long):
            yield _too_long(line, max_line_bytes, text_encoding)
            continue
        line = line.rstrip(b"\r")
        if fmt == "lines":
            text, raw = _text(line, text_encoding)
            yield ({"message": text}, None, None) if raw is None else ({"message": text}, _undecodable(
                text_encoding), raw)
            continue
        if not line.strip():
            yield None, None, None
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            text, raw = _text(line, text_encoding)
            yield {"message": text}, f"invalid JSON: {exc}", raw
            continue
        yield (value if isinstance(value, dict) else {"message": value}), None, None


def _csv_rows(stream: IO[bytes], encoding: str, delimiter: str, limit: int) -> Iterator[Item]:
    """Rows with the header's names; a physical line that is too long or does not decode is a reject of its
    own (the csv reader sees an empty line in its place), given before the row read after it."""
    problems: list[Item] = []

    def text_lines() -> Iterator[str]:
        for line in _lines(stream, limit):
            if isinstance(line, _Long):
                problems.append(_too_long(line, limit, encoding))
                yield "\n"
                continue
            text, raw = _text(line, encoding)
            if raw is not None:
                problems.append(({"message": text}, _undecodable(encoding), raw))
                yield "\n"
                continue
            yield text + "\n"

    for row in csv.DictReader(text_lines(), delimiter=delimiter):
        yield from problems
        problems.clear()
        yield dict(row), None, None
    yield from problems
