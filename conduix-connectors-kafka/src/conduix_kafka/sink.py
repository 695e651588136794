"""The ``kafka`` sink: a batch is written when every record's delivery report came back successful."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from conduix.connector import Access, Batch, ConnectorError, Context, Rejected, RetryableError, Sink
from conduix_kafka._client import client_logger, kafka, kafka_error, log_client_error
from conduix_kafka._config import KafkaSinkConfig, client_access
from conduix_kafka._delivery import TODO, Attempt
from conduix_kafka._producing import RecordProducer
from conduix_kafka._transactions import Transactions

__all__ = ["KafkaSink"]

logger = logging.getLogger(__name__)

KafkaError = kafka.KafkaError

#: deliveries in a row that time out (every failed record) before an idempotent sink starts a new producer
TIMEOUTS_BEFORE_NEW_PRODUCER = 3


class KafkaSink(Sink[KafkaSinkConfig]):
    """Produces each record to a topic (a template), with an optional key template and headers.

    ``write`` produces the batch and waits up to ``flush_timeout`` for the delivery reports.
    Records whose delivery failed for a transient reason (broker down, message timeout) are
    produced again on the next attempt, those still in flight are not; the runtime retries
    ``write`` (``RetryableError``) with backoff while the batches behind wait, so
    nothing is acknowledged upstream before Kafka has it. Records Kafka refuses for good
    (too large, invalid, not authorised) are returned as rejects for ``on_error``.
    Under ``delivery: exactly_once`` each batch is one transaction that also commits the
    consumed offsets of its records (see :mod:`conduix_kafka.exactly_once`).

    With one input and no ``buffer`` block (and not under exactly-once) it writes from its upstream's thread
    (``writes_inline``): the produce loop is cheap and the wait for the broker releases the GIL, and a thread
    of its own cost more CPU than it saved (docs/performance.md). A ``buffer`` block gives it its own thread
    and queue again.
    """

    Config = KafkaSinkConfig
    writes_inline = True

    @classmethod
    def access(cls, config: KafkaSinkConfig) -> Access:
        return client_access(str(config.brokers), config.producer)

    def __init__(self, config: KafkaSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self._records = RecordProducer(config)
        self._producer: Any = None
        self._fatal: Any = None
        self._timeouts = 0  # attempts in a row whose every failed record timed out in the producer
        self._attempt: Attempt | None = None
        self._transactions: Transactions | None = None
        # a transaction's commit must not race the close() of a run that is failing (a fenced zombie): under
        # exactly-once the sink keeps its own thread, which writes and closes it in turn
        self.writes_inline = context.delivery != "exactly_once"

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties this sink's producer uses."""
        c = self.config
        conf: dict[str, Any] = {
            "bootstrap.servers": c.brokers,
            "client.id": f"conduix-{self.context.pipeline}-{self.id}",
            "linger.ms": c.linger_ms,
            "batch.size": c.batch_bytes,
            "compression.type": c.compression,
            "enable.idempotence": c.idempotent,
            "acks": "all" if c.idempotent else c.acks,
            "message.timeout.ms": c.message_timeout_ms,
            # a Python call per delivered record costs more than the rest of the sink's per-record work: only
            # failures are reported; what a flush leaves in the producer's queue is what is still in flight
            "delivery.report.only.error": self.context.delivery != "exactly_once",
            "error_cb": self._on_error,
            "logger": client_logger,
        }
        if self.context.delivery == "exactly_once":
            conf["transactional.id"] = c.transactional_id or f"conduix-{self.context.pipeline}-{self.id}"
            conf["transaction.timeout.ms"] = c.transaction_timeout_ms
            conf["message.timeout.ms"] = min(c.message_timeout_ms, c.transaction_timeout_ms)
        conf.update(c.producer)
        return conf

    def open(self) -> None:
        self._producer = self._records.producer = self._new_producer()
        if self.context.delivery == "exactly_once":
            self._transactions = Transactions(self._records, self.context, self.client_config()["transactional.id"])
            self._transactions.init()

    def _new_producer(self) -> Any:
        try:
            return kafka.Producer(self.client_config())
        except kafka.KafkaException as exc:
            raise ConnectorError(f"sink {self.id!r}: cannot create the Kafka producer: {exc}; "
                                 "check 'brokers' and the 'producer' properties") from exc

    def _on_error(self, error: Any) -> None:
        if error.fatal():
            self._fatal = error
        log_client_error(self.id, error)

    # -- writing -------------------------------------------------------------------------------
    def write(self, batch: Batch) -> Sequence[Rejected] | None:
        if self._transactions is not None:
            return self._transactions.write(batch)
        attempt = self._attempt
        if attempt is None or attempt.batch is not batch:
            attempt = self._attempt = Attempt(batch)
        if self._fatal is not None:
            self._replace_producer(attempt)
        try:
            self._records.produce(attempt, attempt.indices(TODO))
            left = self._producer.flush(self.config.flush_timeout)
            attempt.in_flight = left  # only this batch's records are in the producer (see client_config)
        except (kafka.KafkaException, SystemError) as exc:
            error = kafka_error(exc)
            if error is None:
                raise
            if error.fatal():  # e.g. the broker lost the idempotent producer's state (UNKNOWN_PRODUCER_ID)
                self._fatal = error
            raise RetryableError(f"{error.str()}") from exc
        if attempt.in_flight:
            raise RetryableError(f"{attempt.in_flight} record(s) still wait for Kafka's "
                                 f"acknowledgement after {self.config.flush_timeout}s ({left} queued)")
        attempt.settle(self._records.renderer(batch))
        failed = attempt.indices(TODO)
        self._timeouts = self._timeouts + 1 if failed and attempt.timed_out == len(failed) else 0
        if self._timeouts >= TIMEOUTS_BEFORE_NEW_PRODUCER and self.config.idempotent:
            # An idempotent producer keeps its producer id across an outage; a broker restarted without its state
            # answers UNKNOWN_PRODUCER_ID to it for good (librdkafka retries until the records time out, not
            # fatal): a new producer gets a new id. During a plain outage this only renews a producer now and then.
            self._timeouts = 0
            self._fatal = kafka.KafkaError(kafka.KafkaError._MSG_TIMED_OUT,
                                           f"{TIMEOUTS_BEFORE_NEW_PRODUCER} deliveries in a row timed out")
        if failed:
            raise RetryableError(f"delivery of {len(failed)} record(s) failed, first: "
                                 f"{attempt.errors.get(failed[0])}; they are sent again")
        self._attempt = None
        return attempt.rejects()

    def _replace_producer(self, attempt: Attempt | None) -> None:
        logger.warning("sink %r: starting a new producer (the old one: %s) and sending again what it had not "
                       "confirmed", self.id, self._fatal.str())
        old, self._fatal = self._producer, None
        if attempt is not None:
            attempt.reset_in_flight()
        self._producer = self._records.producer = self._new_producer()
        try:
            old.purge()
        except (kafka.KafkaException, RuntimeError) as exc:
            logger.debug("sink %r: purging the old producer: %s", self.id, exc)

    def flush(self) -> None:
        if self._producer is not None:
            left = self._producer.flush(self.config.flush_timeout)
            if left:
                raise RetryableError(f"{left} record(s) still queued for Kafka")

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if self._transactions is not None:
            self._transactions.close()
            self._transactions = None
        left = producer.flush(min(self.config.flush_timeout, 5.0))
        if left:
            logger.warning("sink %r closed with %d record(s) not confirmed by Kafka; they were not acknowledged "
                           "upstream and are read again after a restart", self.id, left)

