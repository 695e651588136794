"""``file`` source (JSON lines or plain lines, glob, optional follow) and ``file`` sink (JSON lines)."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import Field

from conduix.builtins._lines import reject_line, undecodable
from conduix.components import Access, Batch, ComponentConfig, Context, Rejected, SharedMeta, Sink, Source
from conduix.errors import ComponentError
from conduix.runtime.acks import AckTracker

__all__ = ["FileSink", "FileSource"]


class FileSourceConfig(ComponentConfig):
    path: str | list[str] = Field(..., description="A file, a glob pattern, or a list of them.")
    format: Literal["lines", "json"] = Field("lines", description="'json': one JSON object per line; "
                                             "'lines': each line becomes {message: line}.")
    follow: bool = Field(False, description="Keep reading appended lines and new files (like tail -F).")
    start_at: Literal["beginning", "end"] = Field("beginning", description="Where to start in a file "
                                                  "with no checkpoint.")
    glob_interval: float = Field(1.0, gt=0, description="Seconds between looks for new files when following.")
    encoding: str = Field("utf-8", description="Lines that are not valid in it are rejected (on_error), their "
                                               "bytes kept in the dead letter, not replaced.")
    max_line_bytes: int = Field(1024 * 1024, ge=1, description="Longer lines (their \\n not counted) are "
                                "rejected (on_error) without being held whole: the dead letter keeps their "
                                "first max_line_bytes bytes.")


#: bytes read from a file at a time; its lines are split at once and handed out batch by batch
CHUNK_BYTES = 1 << 20


class _Long(bytes):
    """The first ``max_line_bytes`` bytes of a longer line; ``size`` is the line's length in the file."""

    size: int


def _long(head: bytes, size: int) -> _Long:
    line = _Long(head)
    line.size = size
    return line


@dataclass
class _OpenFile:
    path: str
    handle: IO[bytes]
    line: int = 0
    offset: int = 0
    """Byte offset of the first line not yet read into a batch."""
    tracker: AckTracker = field(default_factory=AckTracker)
    offsets: dict[int, int] = field(default_factory=dict)
    acked_offset: int = 0
    eof: bool = False
    lines: list[bytes] = field(default_factory=list)
    """Complete lines read from the file (without their newline), from index ``next`` on not yet read."""
    next: int = 0
    partial: bytes = b""
    """The bytes after the last newline read: a line still being written (or the last, unterminated one)."""
    unterminated: bool = False
    """The last of ``lines`` had no newline (the end of a file that is not followed)."""
    long: _Long | None = None
    """A line over the limit still being read: its head is kept, the rest counted and dropped."""
    longs: int = 0
    """Lines over the limit among ``lines`` not yet taken."""

    def take(self, count: int, follow: bool, limit: int) -> tuple[list[bytes], int, int]:
        """Up to ``count`` lines, the bytes they span in the file, and how many of them are :class:`_Long`
        (lines over ``limit`` bytes, never held whole), reading a chunk at a time."""
        lines, start = self.lines, self.next
        while len(lines) - start < count and not self.unterminated:
            # a chunk completes the partial line to at most CHUNK_BYTES (unless that is long): with the default
            # max_line_bytes no line of it can be over the limit, which _split then need not look for
            chunk = self.handle.read(CHUNK_BYTES - len(self.partial) if len(self.partial) < CHUNK_BYTES // 2
                                     else CHUNK_BYTES)
            if chunk:
                parts = self._split(chunk, limit)
            elif (self.partial or self.long is not None) and not follow:  # a last line without newline
                parts = [self.long if self.long is not None else self.partial]
                self.partial, self.long, self.unterminated = b"", None, True
                self.longs += isinstance(parts[0], _Long)
            else:
                break
            lines = lines[start:] + parts if start < len(lines) else parts
            start = 0
        taken = lines[start:start + count]
        self.lines, self.next = lines, start + len(taken)
        longs = 0
        if self.longs:
            longs = sum(isinstance(line, _Long) for line in taken)
            self.longs -= longs
        nbytes = len(taken) + (sum(map(len, taken)) if not longs else
                               sum(line.size if isinstance(line, _Long) else len(line) for line in taken))
        if self.unterminated and taken and self.next == len(lines):
            nbytes -= 1
        return taken, nbytes, longs

    def _split(self, chunk: bytes, limit: int) -> list[bytes]:
        """The lines a chunk completes; ``partial`` and ``long`` keep what it leaves open."""
        parts: list[bytes] = []
        if self.long is not None:  # the rest of a long line, up to its newline, is dropped
            cut = chunk.find(b"\n")
            if cut < 0:
                self.long.size += len(chunk)
                return parts
            self.long.size += cut
            parts.append(self.long)
            self.long, chunk = None, chunk[cut + 1:]
            self.longs += 1
        data = self.partial + chunk
        pieces = data.split(b"\n")
        self.partial = pieces.pop()
        if len(self.partial) > limit:
            self.long, self.partial = _long(self.partial[:limit], len(self.partial)), b""
        if len(data) > limit and pieces and max(map(len, pieces)) > limit:
            pieces = [_long(piece[:limit], len(piece)) if len(piece) > limit else piece for piece in pieces]
            self.longs += sum(isinstance(piece, _Long) for piece in pieces)
        parts += pieces
        return parts


class FileSource(Source[FileSourceConfig]):
    """Reads files (JSON lines or plain lines), by path or glob, optionally following them like tail -F.

    Positions are (path, first line, end line); the checkpoint keeps, per file, the byte offset and
    line number below which every line was acknowledged, so a restart resumes there.
    """

    Config = FileSourceConfig

    @classmethod
    def access(cls, config: FileSourceConfig) -> Access:
        return Access(reads=tuple([config.path] if isinstance(config.path, str) else config.path))

    def __init__(self, config: FileSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self.files: dict[str, _OpenFile] = {}
        self.order: list[str] = []
        self.restored: dict[str, dict[str, int]] = {}
        self._next_glob = 0.0

    def restore(self, state: dict[str, Any]) -> None:
        self.restored = dict(state.get("files", {}))

    def open(self) -> None:
        self._discover()
        if not self.files and not self.config.follow:
            patterns = self._patterns()
            raise ComponentError(f"source {self.id!r}: no file matches {', '.join(patterns)}; check 'path' "
                                 f"(relative paths start at {os.getcwd()})", component=self.id)

    def _patterns(self) -> list[str]:
        return [self.config.path] if isinstance(self.config.path, str) else list(self.config.path)

    def _discover(self) -> None:
        self._next_glob = time.monotonic() + self.config.glob_interval
        for pattern in self._patterns():
            matches = sorted(glob.glob(os.path.expanduser(pattern))) if glob.has_magic(pattern) else (
                [pattern] if os.path.isfile(os.path.expanduser(pattern)) else [])
            for name in matches:
                path = os.path.abspath(os.path.expanduser(name))
                if path in self.files or not os.path.isfile(path):
                    continue
                handle = open(path, "rb")
                state = _OpenFile(path, handle)
                saved = self.restored.get(path)
                if saved is not None:
                    state.offset = state.acked_offset = int(saved["offset"])
                    state.line = int(saved["line"])
                    handle.seek(state.offset)
                elif self.config.start_at == "end":
                    state.offset = state.acked_offset = handle.seek(0, os.SEEK_END)
                state.tracker = AckTracker(state.line)
                self.files[path] = state
                self.order.append(path)

    def read(self, max_records: int) -> Batch | None:
        follow = self.config.follow
        if follow and time.monotonic() >= self._next_glob:
            self._discover()
        for path in self.order:
            state = self.files[path]
            if state.eof and not follow:
                continue
            batch = self._read_file(state, max_records)
            if batch is not None:
                return batch
            if not follow:
                state.eof = True
        return Batch([]) if follow else None

    def _read_file(self, state: _OpenFile, max_records: int) -> Batch | None:
        lines, nbytes, longs = state.take(max_records, self.config.follow, self.config.max_line_bytes)
        if not lines:
            return None
        source, path = self.id, state.path
        first = state.line
        end = first + len(lines)
        records = self._json_batch(lines) if self.config.format == "json" and not longs else None
        rejects: list[Rejected] = []
        if records is not None:  # every line an object: their line numbers follow each other
            numbers: Sequence[int] = range(first + 1, end + 1)
        else:
            records, numbers, rejects = self._records(lines, first, source, path)
        state.line = end
        state.offset += nbytes
        state.offsets[end] = state.offset
        # the metadata of every record is the same but for its line: kept per batch, dicts made when read
        meta = SharedMeta({"source": source, "file": path}, {"line": numbers}) if records else None
        return Batch(records, meta, position=(path, first, end), rejects=rejects or None, nbytes=nbytes)

    @staticmethod
    def _json_batch(lines: list[bytes]) -> list[dict[str, Any]] | None:
        """The lines parsed in one go when each is a JSON object, as nearly all are; None for a batch with
        something else in it (invalid JSON, a blank line, an array...), which :meth:`_records` then reads
        line by line."""
        try:
            records = list(map(orjson.loads, lines))  # JSON allows the \r of a \r\n line end
        except orjson.JSONDecodeError:
            return None
        if records and set(map(type, records)) != {dict}:
            return None
        return records

    def _records(self, lines: list[bytes], first: int, source: str,
                 path: str) -> tuple[list[dict[str, Any]], list[int], list[Rejected]]:
        """The records of ``lines`` (the first is line ``first + 1``), the line number of each, and the
        rejects: invalid JSON, text that does not decode, lines over ``max_line_bytes``."""
        encoding = self.config.encoding
        records: list[dict[str, Any]] = []
        numbers: list[int] = []
        rejects: list[Rejected] = []
        if self.config.format == "json":
            loads, invalid = orjson.loads, orjson.JSONDecodeError
            for line_no, raw in enumerate(lines, first + 1):
                if isinstance(raw, _Long):
                    rejects.append(self._too_long(raw, {"source": source, "file": path, "line": line_no}))
                    continue
                try:
                    record = loads(raw)  # JSON allows the \r of a \r\n line end
                except invalid as exc:
                    line = raw.rstrip(b"\r")
                    if line.strip():  # the reject keeps bytes that do not decode
                        rejects.append(reject_line(line, f"invalid JSON: {exc}", encoding,
                                                   {"source": source, "file": path, "line": line_no}))
                    continue
                records.append(record if type(record) is dict else {"message": record})
                numbers.append(line_no)
        else:
            for line_no, raw in enumerate(lines, first + 1):
                if isinstance(raw, _Long):
                    rejects.append(self._too_long(raw, {"source": source, "file": path, "line": line_no}))
                    continue
                try:
                    text = raw.rstrip(b"\r").decode(encoding)
                except UnicodeDecodeError:  # never replaced silently: the reject keeps the bytes
                    rejects.append(reject_line(raw.rstrip(b"\r"), undecodable(encoding), encoding,
                                               {"source": source, "file": path, "line": line_no}))
                    continue
                records.append({"message": text})
                numbers.append(line_no)
        return records, numbers, rejects

    def _too_long(self, line: _Long, meta: dict[str, Any]) -> Rejected:
        limit = self.config.max_line_bytes
        return Rejected(f"line of {line.size} bytes is longer than max_line_bytes ({limit}); the dead letter keeps "
                        f"its first {limit} bytes", record={"message": line.decode(self.config.encoding, "replace")},
                        meta=meta, raw=bytes(line))

    def acknowledge(self, position: Any) -> None:
        path, first, end = position
        state = self.files[path]
        watermark = state.tracker.acknowledge(first, end)
        for line in [n for n in state.offsets if n <= watermark]:
            offset = state.offsets.pop(line)
            if line == watermark:
                state.acked_offset = offset

    def checkpoint(self) -> dict[str, Any]:
        files = dict(self.restored)
        for path, state in self.files.items():
            files[path] = {"line": state.tracker.watermark, "offset": state.acked_offset}
        return {"files": files}

    def close(self) -> None:
        for state in self.files.values():
            state.handle.close()


class FileSinkConfig(ComponentConfig):
    path: str = Field(..., description="File to write; parent directories are created.")
    append: bool = Field(True, description="Append to an existing file instead of replacing it.")
    fsync: bool = Field(False, description="fsync on every flush (durable, slower).")


class FileSink(Sink[FileSinkConfig]):
    """Writes records to a file, one JSON object per line."""

    local = True

    Config = FileSinkConfig

    @classmethod
    def access(cls, config: FileSinkConfig) -> Access:
        return Access(writes=(config.path,))

    def open(self) -> None:
        path = Path(self.config.path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(path, "ab" if self.config.append else "wb")

    bytes_written = 0

    def write(self, batch: Batch) -> None:
        if not batch.records:
            return
        data = b"\n".join(map(orjson.dumps, batch.records)) + b"\n"
        self.handle.write(data)
        self.handle.flush()
        self.bytes_written += len(data)

    def flush(self) -> None:
        self.handle.flush()
        if self.config.fsync:
            os.fsync(self.handle.fileno())

    def close(self) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()
