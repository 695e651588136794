"""Checkpoints in Redis under ``pipeline:{id}:checkpoint`` (after an optional key prefix) as JSON strings."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from conduix.checkpoint.base import Checkpoint, CheckpointStore, StoreUnavailableError, check_checkpoint
from conduix.errors import CheckpointError
from conduix.redaction import redact_url

__all__ = ["RedisCheckpointStore"]

logger = logging.getLogger(__name__)

_PREFIX = "pipeline:"
_SUFFIX = ":checkpoint"


class RedisCheckpointStore(CheckpointStore):
    """Checkpoints shared through one Redis, so any host can resume a pipeline.

    Short socket timeouts and no client-side retries: a stopped or paused Redis
    costs at most ``timeout`` seconds per call and surfaces as
    :class:`StoreUnavailableError`, which :class:`FallbackCheckpointStore` turns
    into a fallback instead of a stalled pipeline.
    """

    def __init__(self, url: str, *, timeout: float = 0.5, client: redis.Redis | None = None,
                 prefix: str = "") -> None:
        self.url = url
        self.prefix = prefix  #: before every key, e.g. a control plane deployment's ``conduix:NAME:``
        self.client: redis.Redis = client or redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def key_for(self, pipeline_id: str) -> str:
        if not isinstance(pipeline_id, str) or not pipeline_id:
            raise CheckpointError(f"pipeline id must be a non-empty string, got {pipeline_id!r}")
        return f"{self.prefix}{_PREFIX}{pipeline_id}{_SUFFIX}"

    def _call(self, what: str, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(
                f"Redis at {redact_url(self.url)} is unavailable ({what}: {exc}); "
                "check that it runs and is reachable"
            ) from exc
        except redis.RedisError as exc:
            raise CheckpointError(f"Redis at {redact_url(self.url)} refused {what}: {exc}") from exc

    def load(self, pipeline_id: str) -> Checkpoint | None:
        key = self.key_for(pipeline_id)
        raw = self._call(f"GET {key}", self.client.get, key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CheckpointError(
                f"checkpoint in Redis key {key} at {redact_url(self.url)} is corrupt ({exc}); fix it, or "
                f"delete it with `conduix checkpoint reset {pipeline_id} --yes` to restart from the "
                "sources' configured start positions"
            ) from exc
        return check_checkpoint(data, f"in Redis key {key}")

    def save(self, pipeline_id: str, checkpoint: Checkpoint) -> None:
        key = self.key_for(pipeline_id)
        check_checkpoint(checkpoint, f"for pipeline {pipeline_id!r}")
        self._call(f"SET {key}", self.client.set, key, json.dumps(checkpoint, sort_keys=True))

    def delete(self, pipeline_id: str) -> None:
        key = self.key_for(pipeline_id)
        self._call(f"DEL {key}", self.client.delete, key)

    def list(self) -> list[str]:
        start = f"{self.prefix}{_PREFIX}"
        keys = self._call("SCAN", lambda: list(self.client.scan_iter(match=f"{start}*{_SUFFIX}")))
        ids = []
        for key in keys:
            text = key.decode() if isinstance(key, bytes) else key
            ids.append(text[len(start) : -len(_SUFFIX)])
        return sorted(ids)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisCheckpointStore({redact_url(self.url)!r})"
