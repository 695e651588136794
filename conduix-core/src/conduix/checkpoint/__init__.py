"""Checkpoint stores: where a pipeline keeps the positions every sink acknowledged.

Shape of a checkpoint (JSON)::

    {"pipeline": "orders", "timestamp": 1764190000.5, "processed_count": 1200,
     "sources": {"kafka_in": {"timestamp": 1764190000.4,
                              "position": {"kafka_offsets": {"orders:0": 1199}}}},
     "stages": {"dedupe": {...}}}
"""

from __future__ import annotations

from conduix.checkpoint._open import default_state_dir, open_store
from conduix.checkpoint.base import (
    Checkpoint,
    CheckpointStore,
    StoreUnavailableError,
    check_checkpoint,
    merge_checkpoints,
)
from conduix.checkpoint.fallback import FallbackCheckpointStore
from conduix.checkpoint.file import FileCheckpointStore
from conduix.checkpoint.redis_store import RedisCheckpointStore

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "FallbackCheckpointStore",
    "FileCheckpointStore",
    "RedisCheckpointStore",
    "StoreUnavailableError",
    "check_checkpoint",
    "default_state_dir",
    "merge_checkpoints",
    "open_store",
]
