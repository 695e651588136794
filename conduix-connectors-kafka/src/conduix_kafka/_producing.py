"""Producing records to Kafka: topic, key and value rendered from each record, handed to librdkafka with
the batch's trace headers. Used by the ``kafka`` sink and by its transactions (exactly-once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from conduix.connector import Batch, Template, trace_headers
from conduix_kafka._client import kafka, retriable
from conduix_kafka._config import KafkaSinkConfig
from conduix_kafka._delivery import IN_FLIGHT, REJECTED, TODO, Attempt, Rendered

__all__ = ["RecordProducer"]


class RecordProducer:
    """Renders records as the sink's config says and produces them with :attr:`producer` (which the sink
    replaces after a fatal error)."""

    def __init__(self, config: KafkaSinkConfig) -> None:
        self.config = config
        self.producer: Any = None
        self._topic = Template(config.topic, option="topic")
        self._fixed_topic = config.topic if self._topic.is_static else None
        self._key = Template(config.key, option="key") if config.key is not None else None
        self._headers = [(name, Template(value, option=f"headers.{name}")) for name, value in config.headers.items()]
        self._encode = _encoder(config.encoding, config.field)

    def render(self, record: dict[str, Any], info: dict[str, Any]) -> Rendered:
        """Topic, key and value of a record; raises TypeError / ValueError (a TemplateError for a missing
        field) when it cannot be produced. A key template that is one missing field alone means no key."""
        topic = self._fixed_topic or self._topic.render(record, None, info)
        if not topic:
            raise ValueError(f"the topic template {self.config.topic!r} gave nothing for this record")
        key = self._key.value(record, info) if self._key is not None else None
        return topic, key.encode("utf-8") if isinstance(key, str) else key, self._encode(record)

    def renderer(self, batch: Batch) -> Callable[[int], Rendered]:
        """Renders record ``i`` again (to match delivery failures); the metadata dicts are made only if called."""
        return lambda i: self.render(batch.records[i], batch.meta_at(i))

    def produce(self, attempt: Attempt, indices: list[int]) -> None:
        """Hand records to the producer; their delivery reports settle them (see :mod:`._delivery`)."""
        batch = attempt.batch
        records = batch.records
        producer = self.producer
        produce, poll = producer.produce, producer.poll
        render, headers = self.render, self._headers
        report = attempt.reports()
        status = attempt.status
        empty: dict[str, Any] = {}
        traced = list(trace_headers(batch).items())  # W3C trace context: the next pipeline continues the trace
        fixed, encode = self._fixed_topic, self._encode
        plain = fixed is not None and self._key is None and not headers  # nothing to render but the value
        meta = None if plain else batch.meta  # metadata kept per batch stays so when no template reads it
        extra: list[tuple[str, Any]] | None
        for i in indices:
            record = records[i]
            try:
                if plain:
                    topic, key, value, extra = fixed, None, encode(record), traced or None
                else:
                    info = meta[i] if meta is not None else empty
                    topic, key, value = render(record, info)
                    extra = [(name, h.value(record, info) or "") for name, h in headers] if headers else None
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
