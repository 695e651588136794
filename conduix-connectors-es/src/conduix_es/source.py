"""``elasticsearch`` source: a query over an index pattern, read with point-in-time and search_after.

Pages are read in the order of ``sort`` (plus ``_shard_doc`` to break ties inside one point in time).
With ``incremental: true`` the checkpoint keeps the sort values of the last acknowledged document, and a
later run (or a restart after a crash) reads only documents that sort after it; with ``poll_interval``
the source keeps looking for such documents instead of ending.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from conduix.connector import Access, AckTracker, Batch, ConfigError, ConnectorError, Context, Source
from conduix_es._client import ElasticsearchConnection, build_client, is_transient, transient

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

__all__ = ["ElasticsearchSource", "ElasticsearchSourceConfig"]

logger = logging.getLogger(__name__)


class ElasticsearchSourceConfig(ElasticsearchConnection):
    index: str = Field(..., description="Index name or pattern, e.g. 'logs-*' (comma-separated for several).")
    query: dict[str, Any] = Field(default_factory=lambda: {"match_all": {}},
                                  description="Query DSL (the value of the search body's 'query').")
    sort: list[str] = Field(default_factory=list, description="Fields to read in ascending order, e.g. "
                            "['@timestamp', 'event_id']; needed for 'incremental' and 'poll_interval'. "
                            "Together they should identify a document.")
    incremental: bool = Field(False, description="Keep the sort values of the last acknowledged document in the "
                              "checkpoint; the next run reads only documents sorting after it.")
    poll_interval: float | None = Field(None, gt=0, description="Seconds between searches for new documents "
                                        "after reaching the end (the source then never ends by itself).")
    batch_size: int | None = Field(None, ge=1, le=10_000, description="Documents per page (default: the "
                                   "pipeline's batch_size, at most 10,000).")
    keep_alive: str = Field("5m", description="How long Elasticsearch keeps the point in time between pages.")
    source_includes: list[str] | None = Field(None, description="Only these fields of each document.")

    @model_validator(mode="after")
    def _needs_sort(self) -> ElasticsearchSourceConfig:
        if (self.incremental or self.poll_interval) and not self.sort:
            raise ValueError("'incremental' and 'poll_interval' need 'sort': the fields whose values mark how "
                             "far the source has read, e.g. sort: ['@timestamp', 'event_id']")
        return self


class ElasticsearchSource(Source[ElasticsearchSourceConfig]):
    """Reads the documents matching a query; positions are page numbers, acknowledged in any order."""

    Config = ElasticsearchSourceConfig

    @classmethod
    def access(cls, config: ElasticsearchSourceConfig) -> Access:
        return config.access()

    def __init__(self, config: ElasticsearchSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._client: Elasticsearch | None = None
        self._pit: str | None = None
        self._search_after: list[Any] | None = None
        self._read_after: list[Any] | None = None  # sort values of the last document read
        self._acked_after: list[Any] | None = None  # ... of the last document below the ack watermark
        self._page = 0
        self._tracker = AckTracker()
        self._page_after: dict[int, list[Any]] = {}
        self._exhausted = False
        self._next_poll = 0.0
        self._stopped = False
        self._query_now: dict[str, Any] = config.query
        if context.slice_count > 1:
            raise ConfigError(f"source {context.component_id!r}: the elasticsearch source reads one ordered "
                              f"stream and does not split across {context.slice_count} workers",
                              hint="run the pipeline with workers: 1, or one source per index with its own query")

    # -- checkpoints --------------------------------------------------------------------------
    def restore(self, state: dict[str, Any]) -> None:
        after = state.get("after")
        if not self.config.incremental or after is None:
            return
        if state.get("sort", self.config.sort) != self.config.sort or len(after) != len(self.config.sort):
            logger.warning("source %r: the checkpoint was taken with sort %s, the config now says %s; reading "
                           "from the beginning (reset the checkpoint to silence this)", self.id, state.get("sort"),
                           self.config.sort)
            return
        self._acked_after = self._read_after = list(after)

    def checkpoint(self) -> dict[str, Any] | None:
        if not self.config.incremental:
            return None
        return {"after": self._acked_after, "sort": list(self.config.sort)}

    def acknowledge(self, position: Any) -> None:
        page, _ = position
        watermark = self._tracker.acknowledge(page, page + 1)
        for done in [p for p in self._page_after if p < watermark]:
            after = self._page_after.pop(done)
            if done == watermark - 1:
                self._acked_after = after

    # -- reading ------------------------------------------------------------------------------
    def open(self) -> None:
        self._client = build_client(self.config)

    def stop(self) -> None:
        self._stopped = True

    def read(self, max_records: int) -> Batch | None:
        if self._exhausted:
            if self.config.poll_interval is None or self._stopped:
                return None
            if time.monotonic() < self._next_poll:
                return Batch([])
            self._exhausted = False
        if self._pit is None:
            self._open_pit()
        size = min(self.config.batch_size or max_records, 10_000)
        response = self._search(size)
        self._pit = response.get("pit_id") or self._pit
        hits = response["hits"]["hits"]
        if len(hits) < size:
            self._end_of_results()
        if not hits:
            return Batch([])
        n_sort = len(self.config.sort)
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        for hit in hits:
            records.append(hit.get("_source") or {})
            meta.append({"source": self.id, "index": hit["_index"], "id": hit["_id"],
                         "position": f"{hit['_index']}/{hit['_id']}"})
        last_sort = hits[-1].get("sort") or []
        self._search_after = last_sort
        page = self._page
        self._page += 1
        if n_sort:
            self._read_after = list(last_sort[:n_sort])
            self._page_after[page] = self._read_after
        return Batch(records, meta, position=(page, len(hits)))

    def _query(self) -> dict[str, Any]:
        after = self._read_after
        if after is None:
            return self.config.query
        return {"bool": {"must": [self.config.query], "filter": [_after_filter(self.config.sort, after)]}}

    def _open_pit(self) -> None:
        client = self._require_client()
        try:
            response = client.open_point_in_time(index=self.config.index, keep_alive=self.config.keep_alive)
        except Exception as exc:
            raise self._error(exc, f"opening a point in time on {self.config.index!r}") from exc
        self._pit = response["id"]
        self._search_after = None
        self._query_now = self._query()

    def _search(self, size: int) -> dict[str, Any]:
        client = self._require_client()
        sort: list[Any] = [{name: "asc"} for name in self.config.sort] + [{"_shard_doc": "asc"}]
        options: dict[str, Any] = {}
        if self._search_after is not None:
            options["search_after"] = self._search_after
        if self.config.source_includes is not None:
            options["source_includes"] = self.config.source_includes
        try:
            response = client.search(pit={"id": self._pit, "keep_alive": self.config.keep_alive}, size=size,
                                     sort=sort, query=self._query_now, track_total_hits=False, **options)
        except Exception as exc:
            if self.config.sort and _pit_gone(exc) and self._search_after is not None:
                # expired between pages (a long retry, a slow sink): go on after the last document read
                logger.warning("source %r: the point in time on %r expired (keep_alive %s); opening a new one "
                               "after the last document read", self.id, self.config.index, self.config.keep_alive)
                self._pit = None
                self._open_pit()
                return self._search(size)
            raise self._error(exc, f"searching {self.config.index!r}") from exc
        return response.body

    def _end_of_results(self) -> None:
        self._close_pit()
        self._exhausted = True
        if self.config.poll_interval is not None:
            self._next_poll = time.monotonic() + self.config.poll_interval

    def _close_pit(self) -> None:
        pit, self._pit = self._pit, None
        if pit is not None and self._client is not None:
            try:
                self._client.close_point_in_time(id=pit)
            except Exception as exc:  # it expires by itself after keep_alive
                logger.debug("source %r: closing point in time failed: %s", self.id, exc)

    def _require_client(self) -> Elasticsearch:
        if self._client is None:
            raise ConnectorError(f"source {self.id!r} is not open")
        return self._client

    def _error(self, exc: Exception, what: str) -> Exception:
        if is_transient(exc):
            return transient(exc, f"source {self.id!r}: {what} failed")
        return ConnectorError(f"source {self.id!r}: {what} failed: {type(exc).__name__}: {exc}; check 'index', "
                              f"'query' and 'sort' (sort fields must exist and be sortable; a point in time "
                              f"expires after 'keep_alive' = {self.config.keep_alive})")

    def close(self) -> None:
        self._close_pit()
        if self._client is not None:
            self._client.close()
            self._client = None


def _pit_gone(exc: Exception) -> bool:
    from elasticsearch import NotFoundError

    text = str(exc)
    return isinstance(exc, NotFoundError) and ("search_context_missing" in text or "No search context" in text)


def _after_filter(fields: list[str], values: list[Any]) -> dict[str, Any]:
    """Documents whose sort values come strictly after ``values`` in lexicographic order."""
    should: list[dict[str, Any]] = []
    for k, name in enumerate(fields):
        clauses: list[dict[str, Any]] = [{"range": {fields[j]: {"gte": values[j], "lte": values[j]}}}
                                         for j in range(k)]
        clauses.append({"range": {name: {"gt": values[k]}}})
        should.append(clauses[0] if len(clauses) == 1 else {"bool": {"filter": clauses}})
    return {"bool": {"should": should, "minimum_should_match": 1}}
