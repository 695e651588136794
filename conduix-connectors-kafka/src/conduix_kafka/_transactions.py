"""Exactly-once Kafka -> Kafka: each batch is one producer transaction carrying the consumed offsets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from conduix.connector import Batch, ConnectorError, Context, Rejected, RetryableError
from conduix_kafka import exactly_once
from conduix_kafka._client import kafka, kafka_error
from conduix_kafka._delivery import DONE, REJECTED, TODO, Attempt
from conduix_kafka._producing import RecordProducer

__all__ = ["Transactions"]

logger = logging.getLogger(__name__)

_TIMEOUT = 30.0


class Transactions:
    """Runs the writes of a ``kafka`` sink as transactions of its producer (``records.producer``).

    A write begins a transaction, produces the batch, sends the highest consumed offset + 1 of
    every partition its records came from (per source consumer group, with that consumer's group
    metadata, which fences a consumer that lost its partitions) and commits. A transient failure
    aborts and the runtime retries the whole batch in a new transaction; a commit that timed out is
    retried as a commit. A fatal error (another instance with the same ``transactional.id`` fenced
    this one) stops the sink. Records of partitions their source no longer owns are left out: their
    new owner reads them again from the last committed offset.
    """

    def __init__(self, records: RecordProducer, context: Context, transactional_id: str) -> None:
        self.records = records
        self.producer = records.producer
        self.context = context
        self.id = context.component_id
        self.transactional_id = transactional_id
        self.phase: str | None = None  # None, "open" (begun), "committing"
        self.attempt: Attempt | None = None
        self.skipped: set[int] = set()

    def init(self) -> None:
        try:
            self.producer.init_transactions(_TIMEOUT)
        except kafka.KafkaException as exc:
            raise ConnectorError(f"sink {self.id!r}: cannot start the transactional producer: {exc}; "
                                 "check that the brokers are up and support transactions") from exc

    def write(self, batch: Batch) -> Sequence[Rejected] | None:
        if self.attempt is None or self.attempt.batch is not batch:
            if self.phase is not None:
                self._abort()
            self.attempt = Attempt(batch)
            self.skipped = set()
        attempt = self.attempt
        producer = self.producer
        if self.phase == "open":  # a transaction a failed attempt could not abort
            self._abort()
        try:
            if self.phase == "committing":
                producer.commit_transaction(_TIMEOUT)
            else:
                offsets = self._offsets(batch)
                attempt.reset_in_flight()
                attempt.status = [s if s == REJECTED else (DONE if i in self.skipped else TODO)
                                  for i, s in enumerate(attempt.status)]
                producer.begin_transaction()
                self.phase = "open"
                self.records.produce(attempt, attempt.indices(TODO))
                for metadata, partitions in offsets:
                    producer.send_offsets_to_transaction(partitions, metadata, _TIMEOUT)
                self.phase = "committing"
                producer.commit_transaction(_TIMEOUT)
        except (kafka.KafkaException, SystemError) as exc:
            error = kafka_error(exc)
            if error is None:
                raise
            if error.fatal():
                self.phase = None
                raise ConnectorError(f"sink {self.id!r}: the transactional producer failed for good: "
                                     f"{error.str()} (another instance with transactional id "
                                     f"{self.transactional_id!r} may have fenced it)"
                                     ) from exc
            if self.phase == "committing" and error.retriable() and not error.txn_requires_abort():
                raise RetryableError(f"committing the transaction: {error.str()}") from exc
            if attempt.in_flight == 0:  # records Kafka refused for good are left out of the next transaction
                attempt.settle(self.records.renderer(batch))
            self._abort()
            raise RetryableError(f"transaction aborted ({error.str()}); the batch is "
                                 "written again in a new one") from exc
        self.phase = None
        self.attempt = None
        if self.skipped:
            logger.info("sink %r left out %d record(s) of partitions their source no longer owns",
                        self.id, len(self.skipped))
        return attempt.rejects()

    def _offsets(self, batch: Batch) -> list[tuple[Any, list[Any]]]:
        """Per source consumer: its group metadata and the next offset of each partition in ``batch``."""
        if batch.meta is None:
            return []
        run = exactly_once.run_key(self.context)
        sources: dict[str, Any] = {}
        ends: dict[str, dict[tuple[str, int], int]] = {}
        for index, info in enumerate(batch.meta):
            source_id = info.get("source")
            offset = info.get("offset")
            if source_id is None or offset is None or "partition" not in info:
                continue
            if source_id not in sources:
                sources[source_id] = exactly_once.lookup(run, source_id)
            source = sources[source_id]
            if source is None:
                continue
            topic, partition = info["topic"], info["partition"]
            if not source.owns(topic, partition):
                self.skipped.add(index)
                continue
            per = ends.setdefault(source_id, {})
            if offset + 1 > per.get((topic, partition), -1):
                per[(topic, partition)] = offset + 1
        return [(sources[sid].group_metadata(), [kafka.TopicPartition(t, p, o) for (t, p), o in per.items()])
                for sid, per in ends.items()]

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction(_TIMEOUT)
        except kafka.KafkaException as exc:
            if exc.args[0].fatal():
                raise ConnectorError(f"sink {self.id!r}: aborting the transaction failed for good: "
                                     f"{exc.args[0].str()}") from exc
            logger.warning("sink %r: aborting the transaction: %s", self.id, exc)
            raise RetryableError(f"aborting the transaction: {exc}") from exc
        self.phase = None

    def close(self) -> None:
        if self.phase is not None:
            try:
                self.producer.abort_transaction(5.0)
            except kafka.KafkaException as exc:
                logger.warning("sink %r: aborting the open transaction at close: %s", self.id, exc)
            self.phase = None
