"""The checkpoint store interface, the checkpoint shape and the newest-wins merge."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from conduix.errors import CheckpointError

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "StoreUnavailableError",
    "check_checkpoint",
    "merge_checkpoints",
]

#: A checkpoint as stored: ``{"pipeline", "timestamp", "processed_count", "sources", "stages"}``.
Checkpoint = dict[str, Any]


class StoreUnavailableError(CheckpointError):
    """The store's server could not be reached (refused, timed out); the data itself may be fine."""


class CheckpointStore(ABC):
    """Where a pipeline's last acknowledged positions and stage state are kept.

    A checkpoint holds only positions whose records every sink acknowledged, so
    loading it and replaying the sources from there loses nothing.
    """

    @abstractmethod
    def load(self, pipeline_id: str) -> Checkpoint | None:
        """Return the pipeline's checkpoint, or None when it has none yet."""

    @abstractmethod
    def save(self, pipeline_id: str, checkpoint: Checkpoint) -> None:
        """Replace the pipeline's checkpoint; returns once it is durable."""

    @abstractmethod
    def delete(self, pipeline_id: str) -> None:
        """Forget the pipeline's checkpoint (a missing one is not an error)."""

    @abstractmethod
    def list(self) -> list[str]:
        """Ids of the pipelines that have a checkpoint, sorted."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections; the store is not used afterwards."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_checkpoint(data: object, where: str) -> Checkpoint:
    """Return ``data`` if it has the checkpoint shape, else raise a CheckpointError naming ``where``."""

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {where} is not a valid checkpoint: {problem}; fix it, or delete it with "
            "`conduix checkpoint reset PIPELINE --yes` to restart from the sources' configured start positions"
        )

    if not isinstance(data, dict):
        raise bad(f"expected a JSON object, found {type(data).__name__}")
    if not _is_number(data.get("timestamp")):
        raise bad("'timestamp' must be a number (unix seconds)")
    if "processed_count" in data and (
        not isinstance(data["processed_count"], int) or isinstance(data["processed_count"], bool)
    ):
        raise bad("'processed_count' must be an integer")
    if "pipeline" in data and not isinstance(data["pipeline"], str):
        raise bad("'pipeline' must be a string")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise bad("'sources' must be an object keyed by source id")
    for source_id, entry in sources.items():
        if not isinstance(entry, dict) or not _is_number(entry.get("timestamp")) or "position" not in entry:
            raise bad(f"sources.{source_id} must be an object with a numeric 'timestamp' and a 'position'")
    if not isinstance(data.get("stages", {}), dict):
        raise bad("'stages' must be an object keyed by stage id")
    return data


def merge_checkpoints(first: Checkpoint | None, second: Checkpoint | None) -> Checkpoint | None:
    """Merge two checkpoints of one pipeline: the newest entry wins per source.

    Used to reconcile a checkpoint written to a fallback store during an outage
    with the one the primary store kept. Each source keeps the entry with the
    larger ``timestamp``; the top-level fields and the stage state come from the
    checkpoint with the larger top-level ``timestamp`` (``second`` on a tie).
    """
    if first is None or second is None:
        return second if first is None else first
    newer, older = (first, second) if first["timestamp"] > second["timestamp"] else (second, first)
    sources = dict(older.get("sources", {}))
    for source_id, entry in newer.get("sources", {}).items():
        current = sources.get(source_id)
        if current is None or entry["timestamp"] >= current["timestamp"]:
            sources[source_id] = entry
    merged = dict(newer)
    merged["sources"] = sources
    merged["timestamp"] = max(first["timestamp"], second["timestamp"])
    return merged
