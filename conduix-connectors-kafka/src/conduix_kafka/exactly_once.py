"""The in-process handshake between Kafka sources and a transactional Kafka sink.

With ``delivery: exactly_once`` the sink commits the consumed offsets inside its own
transaction (``send_offsets_to_transaction``), so it needs, from the source that read a
record, the consumer's group metadata (which fences a consumer that lost its partitions)
and whether that source still owns the record's partition. Sources register here under
``(run key, source id)`` when they open and leave when they close; the sink looks them up by
the ``source`` field of each record's metadata. The run key is the run's id
(``Context.run_id``), or the pipeline name where the runtime gives none; a second
registration under the same key replaces the first, with a warning.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

__all__ = ["TransactionalSource", "lookup", "register", "run_key", "unregister"]

logger = logging.getLogger(__name__)


class TransactionalSource(Protocol):
    """What a transactional sink asks of the source that read a record."""

    def group_metadata(self) -> Any:
        """The consumer's ``ConsumerGroupMetadata`` for ``send_offsets_to_transaction``."""

    def owns(self, topic: str, partition: int) -> bool:
        """Whether the source's consumer is still assigned this partition."""


def run_key(context: Any) -> str:
    """What ties the components of one pipeline run together: its run id, else its pipeline name."""
    return str(getattr(context, "run_id", None) or context.pipeline)


_lock = threading.Lock()
_sources: dict[tuple[str, str], TransactionalSource] = {}


def register(run: str, source_id: str, source: TransactionalSource) -> None:
    with _lock:
        if _sources.get((run, source_id)) not in (None, source):
            logger.warning("kafka source %r of run %r registered twice for exactly-once; the newer one wins",
                           source_id, run)
        _sources[(run, source_id)] = source


def unregister(run: str, source_id: str, source: TransactionalSource) -> None:
    with _lock:
        if _sources.get((run, source_id)) is source:
            del _sources[(run, source_id)]


def lookup(run: str, source_id: str) -> TransactionalSource | None:
    with _lock:
        return _sources.get((run, source_id))
