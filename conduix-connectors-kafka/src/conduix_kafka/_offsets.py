"""Per-partition watermarks of acknowledged offsets, for the partitions this consumer owns now.

Batches mix partitions and are acknowledged in any order; Kafka offsets are not contiguous
(transaction markers, compaction). So each partition keeps the batches that read it in read
order, and the watermark advances over the leading run of acknowledged ones to the next
offset after the last record of that run. A revoked partition's entry is dropped: batches
still in flight for it are acknowledged into nothing, so it is never committed or
checkpointed by a consumer that no longer owns it.
"""

from __future__ import annotations

from collections import deque

__all__ = ["PartitionOffsets", "partition_key", "split_key"]


def partition_key(topic: str, partition: int) -> str:
    """``topic:partition``, the key in checkpoints (topic names cannot contain ':')."""
    return f"{topic}:{partition}"


def split_key(key: str) -> tuple[str, int]:
    topic, _, partition = key.rpartition(":")
    return topic, int(partition)


class _Entry:
    __slots__ = ("done", "next_offset")

    def __init__(self, next_offset: int) -> None:
        self.next_offset = next_offset
        self.done = False


class _Partition:
    __slots__ = ("acked", "committed", "key", "pending")

    def __init__(self, key: str, start: int | None) -> None:
        self.key = key
        self.acked = start
        self.committed = start
        self.pending: deque[_Entry] = deque()


class PartitionOffsets:
    """Acknowledged offsets per owned partition; not thread-safe (the source's thread only)."""

    def __init__(self) -> None:
        self._owned: dict[str, _Partition] = {}
        self._batches: dict[int, list[tuple[_Partition, _Entry]]] = {}

    def assign(self, key: str, start: int | None) -> None:
        """Own ``key`` from now on; ``start`` is the offset it resumes at when known."""
        self._owned[key] = _Partition(key, start)

    def revoke(self, key: str) -> int | None:
        """Stop owning ``key``; returns its acknowledged offset (to commit before letting go)."""
        part = self._owned.pop(key, None)
        return None if part is None else part.acked

    def owns(self, key: str) -> bool:
        return key in self._owned

    def owned(self) -> list[str]:
        return list(self._owned)

    def read(self, batch: int, next_offsets: dict[str, int]) -> None:
        """Batch ``batch`` holds records of these partitions, up to (not including) these offsets."""
        entries = []
        for key, next_offset in next_offsets.items():
            part = self._owned.get(key)
            if part is None:
                continue
            entry = _Entry(next_offset)
            part.pending.append(entry)
            entries.append((part, entry))
        self._batches[batch] = entries

    def acknowledge(self, batch: int) -> list[str]:
        """Every record of ``batch`` was written; returns the keys whose watermark moved."""
        moved = []
        for part, entry in self._batches.pop(batch, ()):
            entry.done = True
            pending = part.pending
            advanced = False
            while pending and pending[0].done:
                part.acked = pending.popleft().next_offset
                advanced = True
            if advanced and self._owned.get(part.key) is part:
                moved.append(part.key)
        return moved

    def acked(self, key: str) -> int | None:
        part = self._owned.get(key)
        return None if part is None else part.acked

    def watermarks(self) -> dict[str, int]:
        """Acknowledged offset of every owned partition that has one."""
        return {key: part.acked for key, part in self._owned.items() if part.acked is not None}

    def uncommitted(self) -> dict[str, int]:
        """Watermarks that moved since :meth:`mark_committed` last saw them."""
        return {key: part.acked for key, part in self._owned.items()
                if part.acked is not None and part.acked != part.committed}

    def mark_committed(self, offsets: dict[str, int]) -> None:
        for key, offset in offsets.items():
            part = self._owned.get(key)
            if part is not None:
                part.committed = offset

    def mark_uncommitted(self, keys: list[str]) -> None:
        """A commit of these failed: offer them again to the next :meth:`uncommitted`."""
        for key in keys:
            part = self._owned.get(key)
            if part is not None:
                part.committed = None

    @property
    def in_flight(self) -> int:
        return len(self._batches)
