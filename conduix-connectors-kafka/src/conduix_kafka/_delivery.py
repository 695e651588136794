"""Delivery state of one batch in the ``kafka`` sink, across the retries of its ``write``.

Each record is TODO (to produce), IN_FLIGHT (produced, report pending), DONE or REJECTED. The
delivery callback is one bound method per producer generation (no object per record: that costs
more than the rest of the sink's per-record work); it keeps the failed messages. The sink's producer
reports failures only (``delivery.report.only.error``; a report per delivered record is a Python call
each), so after a flush the sink sets ``in_flight`` to what the producer still holds; under
exactly-once every record is reported and the callback counts them down. Once every report is in,
:meth:`Attempt.settle` matches each failed message to its record by topic, key and value and marks the
rest DONE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from conduix.connector import Batch, Rejected
from conduix_kafka._client import kafka, retriable

__all__ = ["DONE", "IN_FLIGHT", "REJECTED", "TODO", "Attempt", "Rendered"]

logger = logging.getLogger(__name__)

TODO, IN_FLIGHT, DONE, REJECTED = range(4)

Rendered = tuple[str, "bytes | None", "bytes | None"]
"""What a record is produced as: topic, key, value."""


class Attempt:
    """Statuses of one batch's records; reports from a replaced producer (older generation) are ignored."""

    __slots__ = ("batch", "errors", "failures", "generation", "in_flight", "status", "timed_out")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.status = [TODO] * len(batch.records)
        self.errors: dict[int, BaseException | str] = {}
        self.failures: list[tuple[Any, Rendered]] = []
        self.in_flight = 0
        self.generation = 0
        self.timed_out = 0  #: records the last :meth:`settle` found timed out in the producer (never confirmed)

    def reports(self) -> Callable[[Any, Any], None]:
        """The delivery callback for what is produced from now on (until :meth:`reset_in_flight`)."""
        return _Reports(self, self.generation).report

    def reset_in_flight(self) -> None:
        """The producer is gone or the transaction aborted: what was not confirmed is sent again."""
        self.generation += 1
        self.in_flight = 0
        self.failures.clear()
        self.status = [TODO if s == IN_FLIGHT else s for s in self.status]

    def settle(self, render: Callable[[int], Rendered]) -> None:
        """Every report came back (``in_flight`` is 0): failed records go back to TODO (transient) or
        REJECTED (permanent), the other produced ones are DONE."""
        self.timed_out = 0
        if self.failures:
            waiting: dict[Rendered, list[int]] = {}
            for index in self.indices(IN_FLIGHT):
                waiting.setdefault(render(index), []).append(index)
            for error, rendered in self.failures:
                candidates = waiting.get(rendered)
                if not candidates:  # cannot tell which record failed: send every unconfirmed one again
                    logger.warning("a failed delivery matches no record of the batch; sending the batch's "
                                   "unconfirmed records again")
                    self.failures.clear()
                    self.status = [TODO if s == IN_FLIGHT else s for s in self.status]
                    return
                index = candidates.pop(0)  # identical records are interchangeable
                if retriable(error):
                    self.status[index] = TODO
                    self.errors[index] = error.str()
                    self.timed_out += error.code() == kafka.KafkaError._MSG_TIMED_OUT
                else:
                    self.status[index] = REJECTED
                    self.errors[index] = f"Kafka refused the record: {error.str()}"
            self.failures.clear()
        statuses = self.status
        if statuses.count(IN_FLIGHT) == len(statuses):
            self.status = [DONE] * len(statuses)
        else:
            self.status = [DONE if s == IN_FLIGHT else s for s in statuses]

    def indices(self, status: int) -> list[int]:
        statuses = self.status
        if statuses.count(status) == len(statuses):  # the usual case (a new batch, all delivered): no loop
            return list(range(len(statuses)))
        return [i for i, s in enumerate(statuses) if s == status]

    def rejects(self) -> list[Rejected]:
        return [Rejected(self.errors.get(i, "rejected"), index=i) for i in self.indices(REJECTED)]


class _Reports:
    __slots__ = ("attempt", "generation")

    def __init__(self, attempt: Attempt, generation: int) -> None:
        self.attempt = attempt
        self.generation = generation

    def report(self, error: Any, message: Any) -> None:
        attempt = self.attempt
        if self.generation != attempt.generation:
            return  # from a producer that was replaced, or a transaction that was aborted
        attempt.in_flight -= 1
        if error is not None:
            attempt.failures.append((error, (message.topic(), message.key(), message.value())))
