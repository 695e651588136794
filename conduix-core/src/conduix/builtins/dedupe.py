"""``dedupe``: drop records whose key was seen recently (within a TTL, or among the last N keys).

State lives in memory (a bounded TTL or LRU cache) or in Redis (``SET key 1 NX EX ttl``, one pipeline per
batch), so several workers or restarts share it. As with any deduplication behind an at-least-once source,
a record replayed after a crash is recognised as a duplicate when its key was stored before the crash.
"""

from __future__ import annotations

from typing import Any, Literal

from cachetools import LRUCache, TTLCache
from pydantic import Field, model_validator

from conduix.builtins._fields import KeyFn, check_paths, durations
from conduix.components import Access, Batch, ComponentConfig, Context, Emit, Stage
from conduix.errors import RetryableError
from conduix.redaction import redact_url

__all__ = ["DedupeConfig", "DedupeStage"]


class DedupeConfig(ComponentConfig):
    fields: list[str] = Field(..., min_length=1, description="Remap paths whose values make the key, "
                                                             "e.g. [.id] or [.user, .event].")
    ttl: float | None = Field(None, gt=0, description="Forget a key this long after it was first seen "
                                                         "(required for Redis); unset: remember the last "
                                                         "'max_size' keys (LRU).")
    max_size: int = Field(100_000, ge=1, description="Memory: keys remembered at most.")
    store: Literal["memory", "redis"] = Field("memory", description="Where seen keys are kept.")
    url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (store: redis).")
    prefix: str = Field("conduix:dedupe:", description="Redis key prefix (store: redis); make it unique per "
                                                       "pipeline and stage.")

    _durations = durations("ttl")

    @model_validator(mode="after")
    def _valid(self) -> DedupeConfig:
        check_paths(self.fields)
        if self.store == "redis" and self.ttl is None:
            raise ValueError("store: redis needs a 'ttl' (Redis keys expire after it)")
        return self


class DedupeStage(Stage[DedupeConfig]):
    """Passes the first record of each key and drops the repeats."""

    Config = DedupeConfig

    @classmethod
    def access(cls, config: DedupeConfig) -> Access:
        return Access(hosts=(config.url,)) if config.store == "redis" else Access()

    def __init__(self, config: DedupeConfig, context: Context) -> None:
        super().__init__(config, context)
        self.key = KeyFn(config.fields)
        self.seen: TTLCache[str, bool] | LRUCache[str, bool] = (
            TTLCache(config.max_size, config.ttl) if config.ttl else LRUCache(config.max_size))
        self.client: Any = None
        self.duplicates = 0
        """Records dropped as repeats."""

    def open(self) -> None:
        if self.config.store == "redis":
            import redis

            self.client = redis.Redis.from_url(self.config.url, socket_timeout=5, socket_connect_timeout=5)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def _first_seen(self, keys: list[str]) -> list[bool]:
        """For distinct keys: True where the key is new (and is now remembered)."""
        if self.client is None:
            fresh = []
            for key in keys:
                fresh.append(key not in self.seen)
                self.seen[key] = True
            return fresh
        import redis

        assert self.config.ttl is not None
        ttl_ms = max(1, int(self.config.ttl * 1000))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(self.config.prefix + key, 1, nx=True, px=ttl_ms)
        try:
            return [bool(answer) for answer in pipe.execute()]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RetryableError(f"dedupe {self.id!r}: redis {redact_url(self.config.url)}: {exc}") from exc

    def process(self, batch: Batch, emit: Emit) -> None:
        keys = [self.key.text(record) for record in batch.records]
        distinct = list(dict.fromkeys(keys))
        fresh = dict(zip(distinct, self._first_seen(distinct)))
        keep = []
        for index, key in enumerate(keys):
            if fresh[key]:
                fresh[key] = False  # later records of this batch with the same key are repeats
                keep.append(index)
        self.duplicates += len(keys) - len(keep)
        if len(keep) == len(keys):
            emit(batch)
        elif keep:
            emit(batch.select(keep))
