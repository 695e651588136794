"""The ``kafka`` sink: a batch is written when every record's delivery report came back successful."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from conduix import Batch, ConnectorError, Context, Sink
from conduix.components import Rejected
from conduix.errors import RetryableError
from conduix.observability.tracing import trace_headers
from conduix_kafka._client import client_logger, kafka, kafka_error, log_client_error, retriable
from conduix_kafka._config import KafkaSinkConfig
from conduix_kafka._delivery import IN_FLIGHT, REJECTED, TODO, Attempt, Rendered
from conduix_kafka._template import compile_template
from conduix_kafka._transactions import Transactions

__all__ = ["KafkaSink"]

logger = logging.getLogger(__name__)

KafkaError = kafka.KafkaError

class KafkaSink(Sink[KafkaSinkConfig]):
    """Produces each record to a topic (a template), with an optional key template and headers.

    ``write`` produces the batch and waits up to ``flush_timeout`` for the delivery reports.
    Records whose delivery failed for a transient reason (broker down, message timeout) are
    produced again on the next attempt, those still in flight are not; the runtime retries
    ``write`` (``RetryableError``) with backoff while its queue holds the batches behind, so
    nothing is acknowledged upstream before Kafka has it. Records Kafka refuses for good
    (too large, invalid, not authorised) are returned as rejects for ``on_error``.
    Under ``delivery: exactly_once`` each batch is one transaction that also commits the
    consumed offsets of its records (see :mod:`conduix_kafka.exactly_once`).
    """

    Config = KafkaSinkConfig

    def __init__(self, config: KafkaSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self._topic = compile_template(config.topic, option="topic")
        self._fixed_topic = config.topic if "{{" not in config.topic else None
        self._key = compile_template(config.key, option="key") if config.key is not None else None
        self._headers = [(name, compile_template(value, option=f"headers.{name}"))
                         for name, value in config.headers.items()]
        self._encode = _encoder(config.encoding, config.field)
        self._producer: Any = None
        self._fatal: Any = None
        self._attempt: Attempt | None = None
        self._transactions: Transactions | None = None

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
        self._producer = self._new_producer()
        if self.context.delivery == "exactly_once":
            self._transactions = Transactions(self, self._producer)
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
            self.produce(attempt, attempt.indices(TODO))
            left = self._producer.flush(self.config.flush_timeout)
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
        attempt.settle(self.renderer(batch))
        failed = attempt.indices(TODO)
        if failed:
            raise RetryableError(f"delivery of {len(failed)} record(s) failed, first: "
                                 f"{attempt.errors.get(failed[0])}; they are sent again")
        self._attempt = None
        return attempt.rejects()

    def render(self, record: dict[str, Any], info: dict[str, Any]) -> Rendered:
        """Topic, key and value of a record; raises TypeError / ValueError when it cannot be produced."""
        topic = self._fixed_topic or self._topic(record, info)
        if not topic:
            raise ValueError(f"the topic template {self.config.topic!r} gave nothing for this record")
        key = self._key(record, info) if self._key is not None else None
        return (topic if isinstance(topic, str) else topic.decode("utf-8", "replace"),
                key.encode("utf-8") if isinstance(key, str) else key, self._encode(record))

    def renderer(self, batch: Batch) -> Callable[[int], Rendered]:
        meta = batch.meta
        return lambda i: self.render(batch.records[i], meta[i] if meta is not None else {})

    def produce(self, attempt: Attempt, indices: list[int]) -> None:
        """Hand records to the producer; their delivery reports settle them (see :mod:`._delivery`)."""
        batch = attempt.batch
        records, meta = batch.records, batch.meta
        producer = self._producer
        produce, poll = producer.produce, producer.poll
        render, headers = self.render, self._headers
        report = attempt.reports()
        status = attempt.status
        empty: dict[str, Any] = {}
        traced = list(trace_headers(batch).items())  # W3C trace context: the next pipeline continues the trace
        for i in indices:
            record = records[i]
            info = meta[i] if meta is not None else empty
            try:
                topic, key, value = render(record, info)
                extra = [(name, h(record, info) or "") for name, h in headers] if headers else None
                if traced:
                    extra = [*(extra or []), *traced]
            except (TypeError, ValueError, KeyError) as exc:
                status[i] = REJECTED
                attempt.errors[i] = exc
                continue
            while True:
                try:
                    produce(topic, value, key, headers=extra, on_delivery=report)
                except BufferError:
                    poll(0.05)  # librdkafka's queue is full: serve delivery reports, then go on
                    continue
                except kafka.KafkaException as exc:
                    error = exc.args[0]
                    if error.fatal():
                        raise
                    status[i] = TODO if retriable(error) else REJECTED
                    attempt.errors[i] = error.str()
                    break
                status[i] = IN_FLIGHT
                attempt.in_flight += 1
                break
        poll(0)

    def _replace_producer(self, attempt: Attempt | None) -> None:
        logger.warning("sink %r: the producer hit a fatal error (%s); starting a new one and sending again what "
                       "the old one had not confirmed", self.id, self._fatal.str())
        old, self._fatal = self._producer, None
        if attempt is not None:
            attempt.reset_in_flight()
        self._producer = self._new_producer()
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


def _encoder(encoding: str, field: str) -> Callable[[dict[str, Any]], bytes | None]:
    if encoding == "json":
        return orjson.dumps

    def raw(record: dict[str, Any]) -> bytes | None:
        value = record.get(field)
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
        if encoding == "bytes":
            raise TypeError(f"field {field!r} holds {type(value).__name__}, not bytes")
        return orjson.dumps(value)

    return raw
