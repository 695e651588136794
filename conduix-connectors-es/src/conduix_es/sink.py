"""``elasticsearch`` sink: bulk requests with item-level results, retries of the items that can succeed later.

Each batch becomes one or more bulk requests (split by ``max_actions`` and ``max_bytes``). Items answered
with 429 or 5xx are sent again, alone, with backoff; items answered with another 4xx (mapping errors,
a missing document for ``update``) are returned as rejections, which the runtime hands to ``on_error``
(``dead_letter`` carries the Elasticsearch error). ``write`` returns once every item of the batch is
settled, so the batch is acknowledged upstream only then.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field, field_validator, model_validator

from conduix.connector import (
    Access,
    Batch,
    ComponentConfig,
    ConfigError,
    ConnectorError,
    Context,
    Rejected,
    RetryableError,
    Sink,
    Template,
    TemplateError,
    record_time,
    redact_url,
)
from conduix_es._client import ElasticsearchConnection, build_client, is_transient, transient

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = ["ElasticsearchSink", "ElasticsearchSinkConfig", "ItemRetrySettings"]

logger = logging.getLogger(__name__)


class ItemRetrySettings(ComponentConfig):
    """Backoff for items answered 429 or 5xx, inside one ``write``."""

    max_attempts: int = Field(5, ge=1, description="Bulk rounds for such items before the write raises a "
                              "retryable error (the component's 'retry:' settings take over, and only the "
                              "items not yet settled are sent again).")
    initial: float = Field(0.2, gt=0, description="First delay, seconds.")
    max: float = Field(5.0, gt=0, description="Longest delay, seconds.")
    multiplier: float = Field(2.0, ge=1, description="Factor between one delay and the next.")


class ElasticsearchSinkConfig(ElasticsearchConnection):
    index: str = Field("conduix-%Y.%m.%d", description="Target index, a template: record fields as '{{ field }}' "
                       "and strftime codes for the record time, e.g. 'logs-{{ service }}-%Y.%m.%d'. The default, "
                       "as Vector's 'vector-%Y.%m.%d', is one index per day of the record time.")
    id: str | None = Field(None, description="Document id template, e.g. '{{ order_id }}' or, from a Kafka "
                           "source's metadata, '{{ @meta.topic }}-{{ @meta.partition }}-{{ @meta.offset }}' "
                           "(default: none, Elasticsearch assigns one). With ids, a replay overwrites instead "
                           "of duplicating.")
    action: Literal["index", "create", "update", "delete"] = Field(
        "index", description="Bulk action. 'create' treats 'already exists' (409) as written; 'delete' treats "
        "'not found' as written; 'update' and 'delete' need 'id'.")
    doc_as_upsert: bool = Field(False, description="With action 'update': create the document when missing.")
    pipeline: str | None = Field(None, description="Ingest pipeline to run the documents through.")
    time_field: str | None = Field("@timestamp", description="Record field with the record time (ISO 8601 or "
                                   "epoch seconds/ms) for strftime codes in 'index'; now (UTC) when absent.")
    max_actions: int = Field(1000, ge=1, description="Most documents in one bulk request.")
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Most bytes in one bulk request.")
    item_retry: ItemRetrySettings = Field(default_factory=ItemRetrySettings,
                                          description="Backoff for items answered 429 or 5xx.")

    @field_validator("index", "id")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else Template(value).source

    @model_validator(mode="after")
    def _needs_id(self) -> ElasticsearchSinkConfig:
        if self.action in ("update", "delete") and not self.id:
            raise ValueError(f"action '{self.action}' needs an 'id' template, e.g. id: '{{{{ id }}}}'")
        if self.doc_as_upsert and self.action != "update":
            raise ValueError("'doc_as_upsert' applies only to action 'update'")
        return self


@dataclass
class _Progress:
    """What is known of the batch being written, kept across the runtime's retries of the same batch."""

    batch: Batch
    lines: dict[int, bytes]
    rejected: list[Rejected] = field(default_factory=list)


class ElasticsearchSink(Sink[ElasticsearchSinkConfig]):
    """Writes records to Elasticsearch with bulk requests; see the module docstring for the failure rules."""

    Config = ElasticsearchSinkConfig

    @classmethod
    def access(cls, config: ElasticsearchSinkConfig) -> Access:
        return config.access()

    def __init__(self, config: ElasticsearchSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        if context.delivery == "exactly_once" and config.action in ("index", "create") and not config.id:
            raise ConfigError(f"sink {context.component_id!r}: 'delivery: exactly_once' needs an 'id' template, "
                              f"so that a replayed record overwrites its document instead of adding one",
                              hint="add for example id: '{{ event_id }}', a field unique per record")
        self._index = Template(config.index, strftime=True, option="index")
        self._id = Template(config.id, option="id") if config.id else None
        self._progress: _Progress | None = None
        self._client: Elasticsearch | None = None
        self.item_retries = 0
        """Items sent again after a 429 or 5xx answer (for tests and stats)."""

    def open(self) -> None:
        self._client = build_client(self.config)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- building the bulk lines ------------------------------------------------------------
    def _lines(self, batch: Batch) -> tuple[dict[int, bytes], list[Rejected]]:
        config = self.config
        action = config.action
        index_tpl, id_tpl = self._index, self._id
        static_index = config.index if index_tpl.is_static else None
        time_field = config.time_field if index_tpl.uses_time else None
        now = datetime.now(timezone.utc)
        extra: dict[str, Any] = {"pipeline": config.pipeline} if config.pipeline else {}
        dumps = orjson.dumps
        lines: dict[int, bytes] = {}
        rejected: list[Rejected] = []
        if static_index is not None and id_tpl is None:  # index/create to one index: the same action line
            fixed = dumps({action: {"_index": static_index, **extra}}) + b"\n"
            return {i: fixed + dumps(record) + b"\n" for i, record in enumerate(batch.records)}, rejected
        metas = batch.meta if (index_tpl.uses_meta or (id_tpl is not None and id_tpl.uses_meta)) else None
        for i, record in enumerate(batch.records):
            meta = metas[i] if metas is not None else None
            try:
                header: dict[str, Any] = {"_index": static_index or index_tpl.render(
                    record, record_time(record, time_field) or now, meta)}
                if id_tpl is not None:
                    header["_id"] = id_tpl.render(record, None, meta)
            except TemplateError as exc:
                rejected.append(Rejected(str(exc), index=i))
                continue
            if extra:
                header.update(extra)
            if action == "delete":
                lines[i] = dumps({"delete": header}) + b"\n"
            elif action == "update":
                body = {"doc": record, "doc_as_upsert": True} if config.doc_as_upsert else {"doc": record}
                lines[i] = dumps({"update": header}) + b"\n" + dumps(body) + b"\n"
            else:
                lines[i] = dumps({action: header}) + b"\n" + dumps(record) + b"\n"
        return lines, rejected

    def _chunks(self, pending: list[int], lines: dict[int, bytes]) -> list[list[int]]:
        max_actions, max_bytes = self.config.max_actions, self.config.max_bytes
        chunks: list[list[int]] = []
        current: list[int] = []
        size = 0
        for i in pending:
            n = len(lines[i])
            if current and (len(current) >= max_actions or size + n > max_bytes):
                chunks.append(current)
                current, size = [], 0
            current.append(i)
            size += n
        if current:
            chunks.append(current)
        return chunks

    # -- writing ------------------------------------------------------------------------------
    def write(self, batch: Batch) -> list[Rejected]:
        progress = self._progress
        if progress is None or progress.batch is not batch:  # a new batch, not a retry of the last one
            lines, rejected = self._lines(batch)
            progress = self._progress = _Progress(batch, lines, rejected)
        retry = self.config.item_retry
        attempt = 0
        while progress.lines:
            failing = self._send_round(progress)
            if not failing:
                break
            attempt += 1
            status, reason = failing
            if attempt >= retry.max_attempts:
                raise RetryableError(f"sink {self.id!r}: {len(progress.lines)} bulk item(s) still answered "
                                     f"{status} after {attempt} rounds (first: {reason})")
            delay = min(retry.max, retry.initial * retry.multiplier ** (attempt - 1)) * random.uniform(0.8, 1.2)
            logger.warning("sink %r: %d bulk item(s) answered %s (%s); sending them again in %.2fs",
                           self.id, len(progress.lines), status, reason, delay)
            self.item_retries += len(progress.lines)
            time.sleep(delay)
        self._progress = None
        return progress.rejected

    def _send_round(self, progress: _Progress) -> tuple[int, str] | None:
        """Send every unsettled item once; settle what can be settled. Returns the first transient failure."""
        lines = progress.lines
        first_failure: tuple[int, str] | None = None
        for chunk in self._chunks(list(lines), lines):
            response = self._bulk(b"".join(lines[i] for i in chunk))
            if not response.get("errors"):
                for i in chunk:
                    del lines[i]
                continue
            items = response.get("items") or []
            if len(items) != len(chunk):
                endpoints = ", ".join(map(redact_url, self.config.endpoints))
                raise ConnectorError(f"sink {self.id!r}: bulk answer has {len(items)} items for {len(chunk)} "
                                     f"actions; is {endpoints} an Elasticsearch endpoint?")
            for i, item in zip(chunk, items):
                result = next(iter(item.values()))
                status = int(result.get("status", 500))
                verdict = self._verdict(status)
                if verdict == "retry":
                    if first_failure is None:
                        first_failure = (status, _reason(result))
                    continue
                del lines[i]
                if verdict == "rejected":
                    where = f" in index {result['_index']!r}" if result.get("_index") else ""
                    progress.rejected.append(Rejected(
                        f"Elasticsearch rejected the document{where} (status {status}): {_reason(result)}", index=i))
        return first_failure

    def _verdict(self, status: int) -> str:
        if status < 300:
            return "written"
        if status == 429 or status >= 500:
            return "retry"
        action = self.config.action
        if (status == 409 and action == "create") or (status == 404 and action == "delete"):
            return "written"  # already there / already gone: a replay of something written before
        return "rejected"

    def _bulk(self, payload: bytes) -> dict[str, Any]:
        client = self._client
        if client is None:
            raise ConnectorError(f"sink {self.id!r} is not open")
        try:
            # pre-serialized NDJSON (orjson) is sent as it is; the client's type hints only name the list form
            response = client.bulk(operations=payload,  # type: ignore[arg-type]
                                   filter_path="errors,items.*._index,items.*.status,items.*.error.type,"
                                               "items.*.error.reason")
        except Exception as exc:
            if is_transient(exc):
                endpoints = ", ".join(map(redact_url, self.config.endpoints))
                raise transient(exc, f"sink {self.id!r}: bulk request to {endpoints} failed") from exc
            raise ConnectorError(f"sink {self.id!r}: bulk request failed for good: {type(exc).__name__}: {exc}; "
                                 f"check the endpoint, credentials and index permissions") from exc
        return response.body


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error or f"status {result.get('status')}")
