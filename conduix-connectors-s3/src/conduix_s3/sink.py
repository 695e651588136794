"""``s3`` sink: each batch becomes one object per key prefix (more when a size limit splits it).

Object keys are derived from the source positions of the records in them (their metadata), so a retry, or
a replay after a crash, of the same batch writes the same keys: the object set converges instead of
collecting duplicates. ``write`` returns only after every object of the batch is uploaded, so a batch is
acknowledged upstream only once its records are in S3.

Objects never span batches: the runtime acknowledges a batch when ``write`` returns, and an object still
open then would hold records acknowledged before they are durable. Larger objects come from larger batches
(``settings.batch_size``); see the connector docs for the core support that would lift this.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from conduix import Batch, Context, Sink
from conduix.components import Rejected
from conduix_s3._client import S3Connection, build_client, map_error
from conduix_s3._formats import compress, encode_rows
from conduix_s3._template import Template, TemplateError, record_time

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

    def __init__(self, config: S3SinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self._prefix = Template(config.key_prefix)
        self._suffix = (".jsonl" if config.encoding == "jsonl" else ".csv") + (
            ".gz" if config.compression == "gzip" else "")
        self._client: Any = None
        self._transfer: Any = None
        self._uploaded: tuple[Batch, set[str]] | None = None  # keys done for the batch being retried
        self._warned_keys = False
        self.objects_written = 0
        self.multipart_uploads = 0

    def open(self) -> None:
        from boto3.s3.transfer import TransferConfig

        self._client = build_client(self.config)
        self._transfer = TransferConfig(multipart_threshold=self.config.multipart_threshold,
                                        multipart_chunksize=self.config.multipart_chunksize)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def write(self, batch: Batch) -> list[Rejected]:
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
            digest = self._digest(batch, prefix, indices[start], indices[end - 1], end - start)
            body = compress(header + b"".join(rows[start:end]), config.compression, config.compression_level)
            objects.append((f"{prefix}{stamp}{digest}{self._suffix}", body, end - start))
        return objects

    def _digest(self, batch: Batch, prefix: str, first: int, last: int, count: int) -> str:
        """A name from where the object's first and last records came from: the same records, the same key."""
        if batch.meta is not None:
            where: Any = [batch.meta[first], batch.meta[last]]
        elif batch.position is not None:
            where = [batch.position, first, last]
        else:
            if not self._warned_keys:
                self._warned_keys = True
                logger.warning("sink %r: records carry no source position; object keys are random, so a "
                               "replay after a crash can write duplicates", self.id)
            where = uuid.uuid4().hex
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
