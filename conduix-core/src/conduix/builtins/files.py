"""``file`` source (JSON lines or plain lines, glob, optional follow) and ``file`` sink (JSON lines)."""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import Field

from conduix.components import Batch, ComponentConfig, Context, Rejected, Sink, Source
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
    encoding: str = "utf-8"


@dataclass
class _OpenFile:
    path: str
    handle: IO[bytes]
    line: int = 0
    offset: int = 0
    tracker: AckTracker = field(default_factory=AckTracker)
    offsets: dict[int, int] = field(default_factory=dict)
    acked_offset: int = 0
    eof: bool = False


class FileSource(Source[FileSourceConfig]):
    """Reads files (JSON lines or plain lines), by path or glob, optionally following them like tail -F.

    Positions are (path, first line, end line); the checkpoint keeps, per file, the byte offset and
    line number below which every line was acknowledged, so a restart resumes there.
    """

    Config = FileSourceConfig

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
        handle = state.handle
        as_json = self.config.format == "json"
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        first = state.line
        line_no = state.line
        offset = state.offset
        while len(records) < max_records:
            raw = handle.readline()
            if not raw:
                break
            if not raw.endswith(b"\n") and self.config.follow:
                handle.seek(offset)  # a line still being written: take it when it is complete
                break
            offset += len(raw)
            line_no += 1
            text = raw.rstrip(b"\r\n")
            if as_json:
                if not text.strip():
                    continue
                try:
                    record = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    rejects.append(Rejected(f"invalid JSON: {exc}", record={"message": text.decode(
                        self.config.encoding, errors="replace")}, meta={"source": self.id, "file": state.path,
                                                                       "line": line_no}))
                    continue
                if not isinstance(record, dict):
                    record = {"message": record}
            else:
                record = {"message": text.decode(self.config.encoding, errors="replace")}
            records.append(record)
            meta.append({"source": self.id, "file": state.path, "line": line_no})
        if line_no == first:
            return None
        nbytes = offset - state.offset
        state.line = line_no
        state.offset = offset
        state.offsets[line_no] = offset
        return Batch(records, meta, position=(state.path, first, line_no), rejects=rejects or None, nbytes=nbytes)

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

    Config = FileSinkConfig

    def open(self) -> None:
        path = Path(self.config.path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(path, "ab" if self.config.append else "wb")

    bytes_written = 0

    def write(self, batch: Batch) -> None:
        dumps = orjson.dumps
        data = b"".join(dumps(r) + b"\n" for r in batch.records)
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
