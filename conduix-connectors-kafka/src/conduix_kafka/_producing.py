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
        if plain and not traced:
            done = self._produce_values(attempt, indices, produce, report)
            if done == len(indices):
                poll(0)
                return
            indices = indices[done:]  # from the record that needs more care (see _produce_values) on
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

    def _produce_values(self, attempt: Attempt, indices: list[int], produce: Callable[..., None],
                        report: Callable[[Any, Any], None]) -> int:
        """The usual case (a fixed topic, no key, headers or trace context): the values encoded in one pass
        and produced in a loop with nothing else per record. Returns how many of ``indices`` were produced;
        from the first that was not (a value that cannot be encoded, librdkafka's queue full, an error) the
        caller's loop goes on record by record, as for every other record."""
        records, encode, topic = attempt.batch.records, self._encode, self._fixed_topic
        try:
            whole = len(indices) == len(records)  # indices are ascending: then they are all the records
            values = list(map(encode, records)) if whole else [encode(records[i]) for i in indices]
        except (TypeError, ValueError, KeyError):
            return 0  # the record loop rejects the one that cannot be encoded
        done = 0
        try:
            for done, value in enumerate(values):  # noqa: B007 (done is read after the loop)
                produce(topic, value, on_delivery=report)
            done = len(values)
        except (BufferError, kafka.KafkaException):
            pass  # values[done] was not taken: the record loop waits for room, or sorts the error out
        if done:
            if whole and done == len(values):  # the whole batch: its statuses in one list
                attempt.status = [IN_FLIGHT] * done
            else:
                status = attempt.status
                for i in indices[:done]:
                    status[i] = IN_FLIGHT
            attempt.in_flight += done
        return done


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
