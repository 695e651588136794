"""``stdin`` source and ``stdout`` sink."""

from __future__ import annotations

import queue
import sys
import threading
from typing import IO, Any, Literal

import orjson
from pydantic import Field

from conduix.builtins._lines import line_record
from conduix.components import Batch, ComponentConfig, Context, Rejected, Sink, Source
from conduix.errors import ComponentError

__all__ = ["StdinSource", "StdoutSink"]

_EOF = object()


class StdinConfig(ComponentConfig):
    format: Literal["lines", "json"] = Field("lines", description="'json': one JSON object per line; "
                                             "'lines': each line becomes {message: line}.")


class StdinSource(Source[StdinConfig]):
    """Reads standard input, as JSON lines or plain lines; ends at end of input.

    A reader thread feeds a bounded queue, so a quiet terminal never blocks the pipeline.
    """

    Config = StdinConfig

    def __init__(self, config: StdinConfig, context: Context, stream: IO[bytes] | None = None) -> None:
        super().__init__(config, context)
        self.stream = stream
        self.lines: queue.Queue[Any] = queue.Queue(maxsize=max(context.batch_size * 4, 1024))
        self.line_no = 0

    def open(self) -> None:
        stream = self.stream or sys.stdin.buffer
        threading.Thread(target=self._pump, args=(stream,), name=f"conduix-stdin-{self.id}", daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.put(raw)
        self.lines.put(_EOF)

    def read(self, max_records: int) -> Batch | None:
        try:
            first = self.lines.get(timeout=0.1)
        except queue.Empty:
            return Batch([])
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        raw = first
        while True:
            if raw is _EOF:
                self.lines.put(_EOF)  # seen again on the next read, after this batch
                if not records and not rejects:
                    return None
                break
            self.line_no += 1
            where = {"source": self.id, "line": self.line_no}
            found = line_record(raw.rstrip(b"\r\n"), self.config.format == "json", "utf-8", where)
            if isinstance(found, Rejected):
                rejects.append(found)
            elif found is not None:
                records.append(found)
                meta.append(where)
            if len(records) >= max_records:
                break
            try:
                raw = self.lines.get_nowait()
            except queue.Empty:
                break
        return Batch(records, meta, position=self.line_no, rejects=rejects or None)


class StdoutConfig(ComponentConfig):
    format: Literal["json", "text"] = Field("json", description="'json': one JSON object per line; "
                                            "'text': the value of 'field' per line.")
    field: str = Field("message", description="The field printed in text format.")


class StdoutSink(Sink[StdoutConfig]):
    """Prints records to standard output, as JSON lines or one field as text."""

    Config = StdoutConfig

    def __init__(self, config: StdoutConfig, context: Context, stream: IO[bytes] | None = None) -> None:
        super().__init__(config, context)
        self.stream = stream

    def write(self, batch: Batch) -> None:
        out = self.stream or sys.stdout.buffer
        if self.config.format == "json":
            dumps = orjson.dumps
            data = b"".join(dumps(r, default=str) + b"\n" for r in batch.records)
        else:
            key = self.config.field
            data = "".join(f"{r.get(key, '')}\n" for r in batch.records).encode()
        try:
            out.write(data)
            out.flush()
        except BrokenPipeError:
            raise ComponentError(f"sink {self.id!r}: standard output was closed", component=self.id) from None

    def flush(self) -> None:
        (self.stream or sys.stdout.buffer).flush()
