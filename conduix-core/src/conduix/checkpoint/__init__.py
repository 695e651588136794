"""Checkpoint stores: where a pipeline keeps the positions every sink acknowledged.

Shape of a checkpoint (JSON)::

    {"pipeline": "orders", "timestamp": 1764190000.5, "processed_count": 1200,
     "sources": {"kafka_in": {"timestamp": 1764190000.4,
                              "position": {"kafka_offsets": {"orders:0": 1199}}}},
     "stages": {"dedupe": {...}}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conduix.checkpoint._open import StoreOpener, default_state_dir, open_store
from conduix.checkpoint.base import (
    Checkpoint,
    CheckpointStore,
    StoreUnavailableError,
    check_checkpoint,
    merge_checkpoints,
)
from conduix.checkpoint.file import FileCheckpointStore

if TYPE_CHECKING:
    from conduix.checkpoint.fallback import FallbackCheckpointStore
    from conduix.checkpoint.redis_store import RedisCheckpointStore

#: imported when first used: they bring the Redis client, which a run without Redis does not need to load
_LAZY = {"FallbackCheckpointStore": "conduix.checkpoint.fallback",
         "RedisCheckpointStore": "conduix.checkpoint.redis_store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "FallbackCheckpointStore",
    "FileCheckpointStore",
    "RedisCheckpointStore",
    "StoreOpener",
    "StoreUnavailableError",
    "check_checkpoint",
    "default_state_dir",
    "merge_checkpoints",
    "open_store",
]
