"""Build the checkpoint store a pipeline or the CLI asks for."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conduix.checkpoint.base import CheckpointStore
from conduix.checkpoint.file import FileCheckpointStore
from conduix.errors import ConfigError
from conduix.paths import default_state_dir

__all__ = ["StoreOpener", "default_state_dir", "open_store"]


def open_store(url: str | None, state_dir: str | os.PathLike[str] | None = None, *,
               redis: Callable[[str], CheckpointStore] | None = None,
               retry_after: float = 5.0) -> CheckpointStore:
    """The store for ``url``: None means files under ``<state_dir>/checkpoints``;
    ``redis://`` / ``rediss://`` / ``unix://`` means Redis (built by ``redis(url)``, e.g. a fenced store)
    with that local file store as fallback, asked again ``retry_after`` seconds after it failed (the Redis
    client is imported only then)."""
    files = FileCheckpointStore(Path(state_dir if state_dir is not None else default_state_dir()) / "checkpoints")
    if url is None or url == "":
        return files
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        from conduix.checkpoint.fallback import FallbackCheckpointStore
        from conduix.checkpoint.redis_store import RedisCheckpointStore

        primary = (redis or RedisCheckpointStore)(url)
        return FallbackCheckpointStore(primary, files, retry_after=retry_after)
    if scheme == "file":
        return FileCheckpointStore(url.split("://", 1)[1])
    raise ConfigError(
        f"unknown checkpoint store {url!r}",
        hint="use redis://HOST:PORT/DB, or leave it unset for files in the state directory",
    )


@dataclass(frozen=True)
class StoreOpener:
    """A checkpoint store each process of a run opens for itself: ``target`` (``"module:function"``) called
    with the run's state folder and ``options``. Plain data, so it reaches the worker processes of a
    supervised run (a store object would not); the control plane's agents open fenced stores this way."""

    target: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, state_dir: str | os.PathLike[str]) -> CheckpointStore:
        from conduix.registry import import_target

        store: CheckpointStore = import_target(self.target)(Path(state_dir), **self.options)
        return store
