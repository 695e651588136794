"""``enrich``: look a key up in a table (CSV/JSON file, Redis, HTTP) and merge or nest the match.

Remote lookups go through a bounded TTL cache (``cachetools``) and the keys of one batch are looked up
together (one Redis pipeline or MGET per batch). A transient lookup failure raises
:class:`~conduix.errors.RetryableError`, so the runtime retries the batch with backoff (``retry:``) and then
applies the stage's ``on_error``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from cachetools import TTLCache
from pydantic import Field, model_validator

from conduix.builtins._fields import FieldPath, durations
from conduix.builtins.lookup_tables import (
    FileTable,
    FileTableConfig,
    HttpTable,
    HttpTableConfig,
    Match,
    RedisTable,
    RedisTableConfig,
    Table,
)
from conduix.components import Access, Batch, ComponentConfig, Context, Emit, Stage
from conduix.remap.paths import clone, set_path

__all__ = ["EnrichConfig", "EnrichStage"]

TableConfig = Annotated[FileTableConfig | RedisTableConfig | HttpTableConfig, Field(discriminator="type")]


class CacheConfig(ComponentConfig):
    ttl: float = Field(60.0, gt=0, description="Seconds (or '30s', '5m') a looked-up entry (or miss) is reused.")
    max_size: int = Field(10_000, ge=0, description="Entries kept at most (0: no cache).")
    cache_misses: bool = Field(True, description="Also remember keys that were not found.")

    _durations = durations("ttl")


class EnrichConfig(ComponentConfig):
    key: str = Field(..., description="Remap path of the lookup key, e.g. '.user_id'.")
    table: TableConfig = Field(..., description="{type: file, path, key_field} | {type: redis, url, mode, prefix} "
                                                "| {type: http, url: 'https://.../{key}'}.")
    target: str | None = Field(None, description="Remap path to nest the match under (e.g. '.user'); unset: "
                                                 "merge its fields into the record.")
    fields: list[str] | None = Field(None, description="Only these fields of the match (default: all).")
    on_miss: Literal["keep", "drop", "default"] = Field(
        "keep", description="A key with no match: keep the record unchanged, drop it, or use 'default'.")
    default: dict[str, Any] | None = Field(None, description="The match used for misses with on_miss: default.")
    cache: CacheConfig = Field(default_factory=lambda: CacheConfig(), description="Cache of remote lookups.")

    @model_validator(mode="after")
    def _consistent(self) -> EnrichConfig:
        FieldPath(self.key)
        if self.target is not None:
            FieldPath(self.target)
        if (self.on_miss == "default") != (self.default is not None):
            raise ValueError("'default' goes with on_miss: default (and it needs one)")
        return self


class EnrichStage(Stage[EnrichConfig]):
    """Adds the matching table entry to every record."""

    Config = EnrichConfig

    @classmethod
    def access(cls, config: EnrichConfig) -> Access:
        table = config.table
        if isinstance(table, FileTableConfig):
            return Access(reads=(table.path,))
        return Access(hosts=(table.url,))

    def __init__(self, config: EnrichConfig, context: Context) -> None:
        super().__init__(config, context)
        self.key_path = FieldPath(config.key)
        self.target = FieldPath(config.target) if config.target else None
        table = config.table
        self.table: Table = (FileTable(table) if isinstance(table, FileTableConfig) else
                             RedisTable(table) if isinstance(table, RedisTableConfig) else HttpTable(table))
        size = config.cache.max_size if self.table.remote else 0
        self.cache: TTLCache[str, Match] | None = TTLCache(size, config.cache.ttl) if size else None
        self.cache_hits = 0
        """Keys answered from the cache."""
        self.cache_misses = 0
        """Keys that had to be looked up in the table."""
        self.lookups = 0
        """Calls to the table (one per batch with keys not in the cache)."""
        self.misses = 0
        """Records whose key had no match."""

    def open(self) -> None:
        self.table.open()

    def close(self) -> None:
        self.table.close()

    def _resolve(self, keys: set[str]) -> dict[str, Match]:
        found: dict[str, Match] = {}
        wanted = []
        cache = self.cache
        for key in keys:
            if cache is not None and key in cache:
                found[key] = cache[key]
                self.cache_hits += 1
            else:
                wanted.append(key)
        if wanted:
            self.cache_misses += len(wanted)
            self.lookups += 1
            answers = self.table.lookup(sorted(wanted))
            for key, match in answers.items():
                found[key] = match
                if cache is not None and (match is not None or self.config.cache.cache_misses):
                    cache[key] = match
        return found

    def process(self, batch: Batch, emit: Emit) -> None:
        keys = [_key_text(self.key_path.get(record)) for record in batch.records]
        matches = self._resolve({k for k in keys if k is not None})
        config = self.config
        keep: list[int] = []
        for index, (record, key) in enumerate(zip(batch.records, keys)):
            match = matches.get(key) if key is not None else None
            if match is None:
                self.misses += 1
                if config.on_miss == "drop":
                    continue
                match = config.default
            keep.append(index)
            if match is None:
                continue
            # a copy: the match is shared with the cache and other records, which later stages must not change
            part = {f: clone(match.get(f)) for f in config.fields} if config.fields is not None else clone(match)
            if self.target is None:
                record.update(part)
            else:
                set_path(record, self.target.segments, part)
        if len(keep) == len(batch.records):
            emit(batch)
        elif keep:
            emit(batch.select(keep))


def _key_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
