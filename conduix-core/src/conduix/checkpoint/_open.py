"""Build the checkpoint store a pipeline or the CLI asks for."""

from __future__ import annotations

import os
from pathlib import Path

from conduix.checkpoint.base import CheckpointStore
from conduix.checkpoint.fallback import FallbackCheckpointStore
from conduix.checkpoint.file import FileCheckpointStore
from conduix.checkpoint.redis_store import RedisCheckpointStore
from conduix.errors import ConfigError
from conduix.paths import default_state_dir

__all__ = ["default_state_dir", "open_store"]


def open_store(url: str | None, state_dir: str | os.PathLike[str] | None = None) -> CheckpointStore:
    """The store for ``url``: None means files under ``<state_dir>/checkpoints``;
    ``redis://`` / ``rediss://`` / ``unix://`` means Redis with that local file store as fallback."""
    files = FileCheckpointStore(Path(state_dir if state_dir is not None else default_state_dir()) / "checkpoints")
    if url is None or url == "":
        return files
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        return FallbackCheckpointStore(RedisCheckpointStore(url), files)
    if scheme == "file":
        return FileCheckpointStore(url.split("://", 1)[1])
    raise ConfigError(
        f"unknown checkpoint store {url!r}",
        hint="use redis://HOST:PORT/DB, or leave it unset for files in the state directory",
    )
