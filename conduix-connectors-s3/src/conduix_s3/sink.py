"""``s3`` sink: records become objects per key prefix, one per batch or collected across batches.

Object keys are derived from the source positions of the records in them (their metadata), so a retry, or
a replay after a crash, of the same records writes the same keys: the object set converges instead of
collecting duplicates. By default each batch becomes its own objects and ``write`` returns once they are
uploaded. With ``max_object_age`` an object collects records across batches until it is full or that old
(``tick``); the batches it holds stay unacknowledged (``batch.hold()``) until it is uploaded, so a source
never checkpoints past a record that is only in the sink's memory.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from conduix.connector import (
    Access,
    Batch,
    Context,
    Rejected,
    RetryableError,
    Sink,
    Template,
    TemplateError,
    record_time,
    release,
)
from conduix_s3._client import S3Connection, build_client, map_error
from conduix_s3._formats import compress, encode_rows

__all__ = ["S3Sink", "S3SinkConfig"]

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024


class S3SinkConfig(S3Connection):
    key_prefix: str = Field("", description="Key prefix template: record fields as '{{ field }}' and strftime "
                            "codes for the record time, e.g. 'logs/{{ service }}/%Y/%m/%d/'.")
    encoding: Literal["jsonl", "csv"] = Field("jsonl", description="Object format.")
    csv_fields: list[str] | None = Field(None, description="csv columns (default: every field of the object's "
                                         "records, in order of first appearance).")
    compression: Literal["gzip", "none"] = Field("gzip", description="Compress objects (adds '.gz' to keys).")
    compression_level: int = Field(6, ge=1, le=9, description="gzip level: 1 fastest, 9 smallest.")
    time_field: str | None = Field("timestamp", description="Record field with the record time (ISO 8601 or "
                                   "epoch seconds/ms) for strftime codes in 'key_prefix' and the key; now (UTC) "
                                   "when absent.")
    max_object_bytes: int = Field(64 * _MIB, ge=1024, description="Most bytes of encoded records (before "
                                  "compression) in one object; a larger batch is split.")
    max_object_records: int | None = Field(None, ge=1, description="Most records in one object.")
    max_object_age: float | None = Field(None, gt=0, description="Collect records across batches: an object is "
                                         "uploaded when full (max_object_bytes, max_object_records) or this many "
                                         "seconds after its first record. null: each batch becomes its own "
                                         "objects.")
    multipart_threshold: int = Field(16 * _MIB, ge=5 * _MIB, description="Objects at least this large "
                                     "(after compression) are sent as a multipart upload.")
    multipart_chunksize: int = Field(8 * _MIB, ge=5 * _MIB, description="Part size of multipart uploads.")
    storage_class: str | None = Field(None, description="S3 storage class, e.g. STANDARD_IA.")

    @field_validator("key_prefix")
    @classmethod
    def _compiles(cls, value: str) -> str:
        Template(value)
        return value


class S3Sink(Sink[S3SinkConfig]):
    """Uploads each batch as objects with deterministic keys; see the module docstring."""

    Config = S3SinkConfig

    @classmethod
    def access(cls, config: S3SinkConfig) -> Access:
        return config.access()

    def __init__(self, config: S3SinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self._prefix = Template(config.key_prefix, strftime=True, option="key_prefix")
        self._suffix = (".jsonl" if config.encoding == "jsonl" else ".csv") + (
            ".gz" if config.compression == "gzip" else "")
        self._client: Any = None
        self._transfer: Any = None
        self._uploaded: tuple[Batch, set[str]] | None = None  # keys done for the batch being retried
        self._warned_keys = False
        self.objects_written = 0
        self.multipart_uploads = 0
        self._collecting: dict[str, _Collecting] = {}  # max_object_age: the object open for each prefix
        self._due: list[_Collecting] = []  # full or old enough: uploaded next
        self._taken: tuple[Batch, list[Rejected]] | None = None  # the batch collected, while its write is retried
        if config.max_object_age is not None:
            self.tick_interval = min(1.0, config.max_object_age / 2)  # type: ignore[misc]

    def open(self) -> None:
        from boto3.s3.transfer import TransferConfig

        self._client = build_client(self.config)
        self._transfer = TransferConfig(multipart_threshold=self.config.multipart_threshold,
                                        multipart_chunksize=self.config.multipart_chunksize)

    def close(self) -> None:
        unwritten = [*self._collecting.values(), *self._due]
        if unwritten:  # the run ended without a flush (a failure): their batches go back unwritten
            for obj in unwritten:
                for held in obj.held:
                    release(held, f"sink {self.id!r} closed before the object for them was uploaded")
            self._collecting.clear()
            self._due.clear()
        if self._client is not None:
            self._client.close()
            self._client = None

    def write(self, batch: Batch) -> list[Rejected]:
        if self.config.max_object_age is not None:
            return self._collect(batch)
        groups, rejected = self._group(batch)
        if self._uploaded is None or self._uploaded[0] is not batch:
            self._uploaded = (batch, set())
        done = self._uploaded[1]
        for prefix, (when, indices) in groups.items():
            for key, body, count in self._objects(batch, prefix, when, indices):
                if key in done:
                    continue  # uploaded before this batch's write was retried
                self._put(key, body, count)
                done.add(key)
        self._uploaded = None
        return rejected

    # -- objects across batches (max_object_age) ------------------------------------------------------
    def _collect(self, batch: Batch) -> list[Rejected]:
        if self._taken is None or self._taken[0] is not batch:  # not when a failed upload retries this write
            groups, rejected = self._group(batch)
            for prefix, (when, indices) in groups.items():
                self._add(batch, prefix, when, indices)
            self._taken = (batch, rejected)
        rejected = self._taken[1]
        self._upload_due()
        self._taken = None
        return rejected

    def _add(self, batch: Batch, prefix: str, when: datetime | None, indices: list[int]) -> None:
        config = self.config
        records = batch.records
        chosen = [records[i] for i in indices]
        _, rows = encode_rows(chosen, config.encoding, config.csv_fields)
        limit = config.max_object_records
        obj = self._collecting.get(prefix)
        for n, index in enumerate(indices):
            size = len(rows[n])
            if obj is not None and ((limit is not None and len(obj.records) >= limit)
                                    or obj.size + size > config.max_object_bytes):
                self._close_object(obj)
                obj = None
            if obj is None:
                obj = self._collecting[prefix] = _Collecting(prefix, when if n == 0 else record_time(
                    records[index], config.time_field), time.monotonic())
            if not obj.held or obj.held[-1] is not batch.acks:
                obj.held.append(batch.hold())  # this batch waits for this object's upload
            obj.records.append(chosen[n])
            obj.rows.append(rows[n])
            obj.size += size
            where = _where(batch, index)
            obj.first = obj.first if len(obj.records) > 1 else where
            obj.last = where

    def _close_object(self, obj: _Collecting) -> None:
        if self._collecting.get(obj.prefix) is obj:
            del self._collecting[obj.prefix]
        self._due.append(obj)

    def _upload_due(self) -> None:
        """Upload the objects that are due, in order; one that fails stays due (and the rest with it)."""
        config = self.config
        while self._due:
            obj = self._due[0]
            header, rows = (b"", obj.rows) if config.encoding == "jsonl" else encode_rows(
                obj.records, "csv", config.csv_fields)
            body = compress(header + b"".join(rows), config.compression, config.compression_level)
            stamp = obj.when.strftime("%Y%m%dT%H%M%SZ-") if obj.when is not None else ""
            key = f"{obj.prefix}{stamp}{self._name(obj.prefix, [obj.first, obj.last], len(obj.records))}{self._suffix}"
            self._put(key, body, len(obj.records))
            self._due.pop(0)
            for held in obj.held:
                release(held)

    def tick(self) -> None:
        """Objects older than ``max_object_age`` are uploaded; a failed upload is tried again at the next tick
        or write (their batches stay unacknowledged meanwhile)."""
        age = self.config.max_object_age
        if age is None:
            return
        now = time.monotonic()
        for obj in [o for o in self._collecting.values() if now - o.started >= age]:
            self._close_object(obj)
        if self._due and self._client is not None:
            try:
                self._upload_due()
            except RetryableError as exc:
                logger.warning("sink %r: uploading an object failed, trying again: %s", self.id, exc)

    def flush(self) -> None:
        for obj in list(self._collecting.values()):
            self._close_object(obj)
        self._upload_due()

    # -- objects per batch ---------------------------------------------------------------------------
    def _group(self, batch: Batch) -> tuple[dict[str, tuple[datetime | None, list[int]]], list[Rejected]]:
        """Record indices by rendered key prefix, with the time of each group's first record (if it has one)."""
        template, field = self._prefix, self.config.time_field
        now = datetime.now(timezone.utc)
        if template.is_static:  # one group: no per-record work
            first = record_time(batch.records[0], field) if batch.records else None
            return {template.source: (first, list(range(len(batch.records))))}, []
        groups: dict[str, tuple[datetime | None, list[int]]] = {}
        rejected: list[Rejected] = []
        metas = batch.meta if template.uses_meta else None
        for i, record in enumerate(batch.records):
            when = record_time(record, field)
            try:
                prefix = template.render(record, when or now, metas[i] if metas is not None else None)
            except TemplateError as exc:
                rejected.append(Rejected(f"key_prefix: {exc}", index=i))
                continue
            group = groups.get(prefix)
            if group is None:
                groups[prefix] = (when, [i])
            else:
                group[1].append(i)
        return groups, rejected

    def _objects(self, batch: Batch, prefix: str, when: datetime | None,
                 indices: list[int]) -> list[tuple[str, bytes, int]]:
        """``(key, body, records)`` for each object of one prefix group, split by the size limits."""
        config = self.config
        records = batch.records
        chosen = records if len(indices) == len(records) else [records[i] for i in indices]
        header, rows = encode_rows(chosen, config.encoding, config.csv_fields)
        limit_records = config.max_object_records or len(rows)
        parts: list[tuple[int, int]] = []
        start, size = 0, len(header)
        if len(rows) <= limit_records and size + sum(map(len, rows)) <= config.max_object_bytes:
            start = len(rows)
            parts.append((0, len(rows)))  # the common case: the whole group fits one object
        for n in range(start, len(rows)):
            row = rows[n]
            if n > start and (n - start >= limit_records or size + len(row) > config.max_object_bytes):
                parts.append((start, n))
                start, size = n, len(header)
            size += len(row)
        if start < len(rows):
            parts.append((start, len(rows)))
        objects = []
        # the record's own time only: a key must not depend on when it was written
        stamp = when.strftime("%Y%m%dT%H%M%SZ-") if when is not None else ""
        for start, end in parts:
            first, last = indices[start], indices[end - 1]
            where = ([batch.meta[first], batch.meta[last]] if batch.meta is not None
                     else [batch.position, first, last] if batch.position is not None else [None])
            name = self._name(prefix, where, end - start)
            body = compress(header + b"".join(rows[start:end]), config.compression, config.compression_level)
            objects.append((f"{prefix}{stamp}{name}{self._suffix}", body, end - start))
        return objects

    def _name(self, prefix: str, where: list[Any], count: int) -> str:
        """A name from where the object's first and last records came from: the same records, the same key."""
        if any(w is None for w in where):
            if not self._warned_keys:
                self._warned_keys = True
                logger.warning("sink %r: records carry no source position; object keys are random, so a "
                               "replay after a crash can write duplicates", self.id)
            where = [uuid.uuid4().hex]
        identity = orjson.dumps([self.context.pipeline, self.id, prefix, where, count],
                                option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)
        return hashlib.sha256(identity).hexdigest()[:20]

    def _put(self, key: str, body: bytes, count: int) -> None:
        config = self.config
        content_type = "application/x-ndjson" if config.encoding == "jsonl" else "text/csv"
        extra: dict[str, Any] = {"ContentType": "application/gzip" if config.compression == "gzip" else content_type}
        if config.storage_class:
            extra["StorageClass"] = config.storage_class
        try:
            if len(body) >= config.multipart_threshold:
                self._client.upload_fileobj(io.BytesIO(body), config.bucket, key, ExtraArgs=extra,
                                            Config=self._transfer)
                self.multipart_uploads += 1
            else:
                self._client.put_object(Bucket=config.bucket, Key=key, Body=body, **extra)
        except Exception as exc:
            raise map_error(exc, f"sink {self.id!r}: uploading s3://{config.bucket}/{key}") from exc
        self.objects_written += 1
        logger.debug("sink %r: uploaded s3://%s/%s (%d records, %d bytes)", self.id, config.bucket, key, count,
                     len(body))


@dataclass
class _Collecting:
    """An object collecting records across batches, and the batches it holds until it is uploaded."""

    prefix: str
    when: datetime | None  # of its first record: part of the key
    started: float  # monotonic time of its first record: for max_object_age
    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[bytes] = field(default_factory=list)
    size: int = 0
    first: Any = None
    last: Any = None
    held: list[tuple[Any, ...]] = field(default_factory=list)


def _where(batch: Batch, index: int) -> Any:
    """Where a record came from: its metadata, or its batch's position and index; None when unknown."""
    if batch.meta is not None:
        return batch.meta[index]
    if batch.position is not None:
        return [batch.position, index]
    return None
