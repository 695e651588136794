"""``s3`` source: the objects under a prefix, read in key order, as records with bucket/key/line metadata.

Objects are read one after another in lexical key order (the order S3 lists them). The checkpoint keeps
the last key below which every object was fully acknowledged, the keys after it that are done, and for
objects read part way the item (line or csv row) below which everything was acknowledged: a restart skips
finished objects and resumes the others where they were. With ``watch: true`` the prefix is listed again
every ``poll_interval`` seconds for keys after the last one seen. With several workers
(``settings.workers``), each reads the keys whose CRC-32 falls in its slice.
"""

from __future__ import annotations

import fnmatch
import logging
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from conduix.connector import Access, AckTracker, Batch, Context, Rejected, Source
from conduix_s3._client import S3Connection, build_client, map_error
from conduix_s3._formats import Item, decode, open_body

__all__ = ["S3Source", "S3SourceConfig"]

logger = logging.getLogger(__name__)


class S3SourceConfig(S3Connection):
    prefix: str = Field("", description="List objects whose keys start with this.")
    pattern: str | None = Field(None, description="Only keys matching this glob (fnmatch, on the whole key), "
                                "e.g. '*.jsonl.gz'.")
    format: Literal["jsonl", "csv", "lines"] = Field("jsonl", description="'jsonl': a JSON object per line; "
                                                     "'csv': rows with a header; 'lines': {message: line}.")
    compression: Literal["auto", "gzip", "none"] = Field("auto", description="'auto' detects gzip from the "
                                                         "first bytes of each object.")
    text_encoding: str = Field("utf-8", description="Character set of the objects. A line that does not decode "
                               "is rejected (never replaced): its dead letter keeps the bytes.")
    max_line_bytes: int = Field(1024 * 1024, ge=1, description="Longer lines (their \\n not counted) are never "
                                "held whole: they go where on_error says, the dead letter keeping their first "
                                "max_line_bytes bytes.")
    csv_delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator of csv objects.")
    watch: bool = Field(False, description="Keep listing the prefix for new objects instead of ending.")
    poll_interval: float = Field(10.0, gt=0, description="Seconds between listings when watching.")


@dataclass
class _Object:
    key: str
    tracker: AckTracker
    total: int | None = None  # items in the object, once read to the end


@dataclass
class _Reading:
    obj: _Object
    next_item: int  # items (lines or rows) of the object consumed so far
    items: Iterator[Item] | None = None
    body: Any = None


@dataclass
class _State:
    after: str | None = None
    done: set[str] = field(default_factory=set)
    partial: dict[str, int] = field(default_factory=dict)


class S3Source(Source[S3SourceConfig]):
    """Reads objects under a prefix; positions are ``(key, first item, end item)``."""

    Config = S3SourceConfig

    @classmethod
    def access(cls, config: S3SourceConfig) -> Access:
        return config.access()

    def __init__(self, config: S3SourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._client: Any = None
        self._state = _State()
        self._listing: Iterator[str] | None = None
        self._order: deque[str] = deque()  # keys listed, in order, not yet folded into state.after
        self._objects: dict[str, _Object] = {}
        self._listed_after: str | None = None
        self._reading: _Reading | None = None
        self._next_list = 0.0
        self._listed_once = False
        self._stopped = False

    # -- checkpoints ---------------------------------------------------------------------------
    def restore(self, state: dict[str, Any]) -> None:
        self._state = _State(after=state.get("after"), done=set(state.get("done") or ()),
                             partial={k: int(v) for k, v in (state.get("partial") or {}).items()})

    def checkpoint(self) -> dict[str, Any]:
        state = self._state
        partial = dict(state.partial)
        for key, obj in self._objects.items():
            if obj.tracker.watermark > 0:
                partial[key] = obj.tracker.watermark
        return {"after": state.after, "done": sorted(state.done), "partial": partial}

    def acknowledge(self, position: Any) -> None:
        key, first, end = position
        obj = self._objects.get(key)
        if obj is None:
            return
        obj.tracker.acknowledge(first, end)
        self._maybe_done(obj)

    def _maybe_done(self, obj: _Object) -> None:
        if obj.total is None or obj.tracker.watermark < obj.total:
            return
        state = self._state
        del self._objects[obj.key]
        state.partial.pop(obj.key, None)
        state.done.add(obj.key)
        self._fold()

    def _fold(self) -> None:
        """Move the leading run of finished keys (in listing order) into 'after', keeping 'done' small."""
        state = self._state
        while self._order and self._order[0] in state.done:
            state.after = self._order.popleft()
            state.done.discard(state.after)

    # -- listing -------------------------------------------------------------------------------
    def open(self) -> None:
        self._client = build_client(self.config)

    def stop(self) -> None:
        self._stopped = True

    def _keys(self) -> Iterator[str]:
        """Keys to read, one listing page at a time (memory stays at one page however large the prefix)."""
        config = self.config
        mine, slices = self.context.slice_index, self.context.slice_count
        start = max(self._listed_after or "", self._state.after or "")
        params: dict[str, Any] = {"Bucket": config.bucket, "Prefix": config.prefix}
        if start:
            params["StartAfter"] = start
        for page in self._client.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", ()):
                key = item["Key"]
                self._listed_after = key
                if key.endswith("/") or (config.pattern and not fnmatch.fnmatchcase(key, config.pattern)):
                    continue
                if slices > 1 and zlib.crc32(key.encode()) % slices != mine:
                    continue  # another worker's slice
                self._order.append(key)
                if key in self._state.done:  # finished before a restart: skipped
                    self._fold()
                    continue
                yield key

    def _next_key(self) -> str | None:
        """The next key to read; None when the listing is through (until the next poll, when watching)."""
        if self._listing is None:
            if self._listed_once and not (self.config.watch and time.monotonic() >= self._next_list):
                return None
            self._listing = self._keys()
        try:
            key = next(self._listing, None)
        except Exception as exc:
            self._listing = None  # listed again from the last key seen on the next read
            config = self.config
            raise map_error(exc, f"source {self.id!r}: listing s3://{config.bucket}/{config.prefix}") from exc
        if key is None:
            self._listing = None
            self._listed_once = True
            self._next_list = time.monotonic() + self.config.poll_interval
            self._fold()
        return key

    # -- reading -------------------------------------------------------------------------------
    def read(self, max_records: int) -> Batch | None:
        if self._reading is None:
            if self._stopped:
                return None
            key = self._next_key()
            if key is None:
                return Batch([]) if self.config.watch else None
            self._start(key)
        assert self._reading is not None
        return self._read_chunk(self._reading, max_records)

    def _start(self, key: str) -> None:
        skip = self._state.partial.get(key, 0)
        obj = _Object(key, AckTracker(skip))
        self._objects[key] = obj
        self._reading = _Reading(obj, skip)

    def _open(self, reading: _Reading) -> None:
        config = self.config
        try:
            response = self._client.get_object(Bucket=config.bucket, Key=reading.obj.key)
        except Exception as exc:
            raise map_error(exc, f"source {self.id!r}: reading s3://{config.bucket}/{reading.obj.key}") from exc
        reading.body = response["Body"]
        try:
            items = decode(open_body(reading.body, config.compression), config.format, config.text_encoding,
                           config.csv_delimiter, config.max_line_bytes)
            for _ in range(reading.next_item):  # items acknowledged before a restart, or read before a reset
                next(items, None)
        except Exception as exc:
            self._close_body(reading)
            raise map_error(exc, f"source {self.id!r}: reading s3://{config.bucket}/{reading.obj.key}") from exc
        reading.items = items

    def _read_chunk(self, reading: _Reading, max_records: int) -> Batch:
        if reading.items is None:
            self._open(reading)
        assert reading.items is not None
        obj, key, bucket = reading.obj, reading.obj.key, self.config.bucket
        first = reading.next_item
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        exhausted = False
        try:
            while len(records) < max_records:
                item = next(reading.items, None)
                if item is None:
                    exhausted = True
                    break
                reading.next_item += 1
                record, error, raw = item
                if record is None:
                    continue
                where = {"source": self.id, "bucket": bucket, "key": key, "line": reading.next_item}
                if error is not None:
                    rejects.append(Rejected(error, record=record, meta=where, raw=raw))
                else:
                    records.append(record)
                    meta.append(where)
        except Exception as exc:
            # the stream broke part way: the next read opens the object again after the items taken so far
            self._close_body(reading)
            if records or rejects:
                logger.warning("source %r: reading s3://%s/%s failed after item %d (%s); resuming there",
                               self.id, bucket, key, reading.next_item, exc)
                return Batch(records, meta, position=(key, first, reading.next_item), rejects=rejects or None)
            reading.next_item = first  # blank lines taken are read again: positions must leave no gap
            raise map_error(exc, f"source {self.id!r}: reading s3://{bucket}/{key}") from exc
        if exhausted:
            obj.total = reading.next_item
            self._close_body(reading)
            self._reading = None
        return Batch(records, meta, position=(key, first, reading.next_item), rejects=rejects or None)

    def _close_body(self, reading: _Reading) -> None:
        if reading.body is not None:
            reading.body.close()
        reading.body = None
        reading.items = None

    def close(self) -> None:
        if self._reading is not None:
            self._close_body(self._reading)
        if self._client is not None:
            self._client.close()
            self._client = None
