"""Our own logic without a broker: offset watermarks, templates, config errors, plugin registration."""

from __future__ import annotations

import logging
import textwrap
from typing import Any

import pytest

from conduix import ConfigError, load_pipeline_text
from conduix.plugins import get_plugin_host
from conduix_kafka._offsets import PartitionOffsets


def test_watermark_moves_only_over_acknowledged_batches_in_read_order() -> None:
    offsets = PartitionOffsets()
    offsets.assign("t:0", None)
    offsets.assign("t:1", 40)
    offsets.read(1, {"t:0": 10, "t:1": 50})
    offsets.read(2, {"t:0": 25})  # offsets need not be contiguous (transaction markers)
    offsets.read(3, {"t:1": 60})
    assert offsets.watermarks() == {"t:1": 40}
    assert offsets.acknowledge(2) == []  # batch 1 is still in flight: nothing moves
    assert offsets.watermarks() == {"t:1": 40}
    assert sorted(offsets.acknowledge(1)) == ["t:0", "t:1"]
    assert offsets.watermarks() == {"t:0": 25, "t:1": 50}
    offsets.acknowledge(3)
    assert offsets.watermarks() == {"t:0": 25, "t:1": 60}


def test_a_revoked_partition_is_never_reported_again_even_when_its_batches_are_acknowledged() -> None:
    offsets = PartitionOffsets()
    offsets.assign("t:0", 0)
    offsets.assign("t:1", 0)
    offsets.read(1, {"t:0": 5, "t:1": 7})
    assert offsets.revoke("t:1") == 0
    offsets.acknowledge(1)
    assert offsets.watermarks() == {"t:0": 5}
    assert not offsets.owns("t:1")
    offsets.assign("t:1", 3)  # assigned again later: starts from what the new assignment says
    assert offsets.watermarks() == {"t:0": 5, "t:1": 3}


def test_uncommitted_reports_each_moved_watermark_once_until_a_commit_fails() -> None:
    offsets = PartitionOffsets()
    offsets.assign("t:0", None)
    offsets.read(1, {"t:0": 10})
    offsets.acknowledge(1)
    assert offsets.uncommitted() == {"t:0": 10}
    offsets.mark_committed({"t:0": 10})
    assert offsets.uncommitted() == {}
    offsets.mark_uncommitted(["t:0"])
    assert offsets.uncommitted() == {"t:0": 10}


def test_the_sink_renders_topic_key_and_headers_with_the_shared_templates() -> None:
    from conduix_kafka._config import KafkaSinkConfig
    from conduix_kafka._producing import RecordProducer

    records = RecordProducer(KafkaSinkConfig(brokers="127.0.0.1:9", topic="logs-{{ service }}-{{ .env.name }}",
                                             key="{{ %key }}", headers={"from": "{{ @meta.topic }}"}))
    topic, key, value = records.render({"service": "api", "env": {"name": "prod"}}, {"key": b"k1"})
    assert (topic, key) == ("logs-api-prod", b"k1") and value is not None
    assert records.render({"service": "api", "env": {"name": "x"}}, {})[1] is None  # a missing key field: no key
    with pytest.raises(ValueError, match="service"):  # a record without the topic's field is rejected
        records.render({}, {})


def test_values_produced_in_one_pass_hand_over_to_the_record_loop_where_one_needs_care() -> None:
    """A fixed topic with no key or headers produces a batch's values in one pass; a value that cannot be encoded,
    a full queue (BufferError) and a refused record are then handled record by record, and nothing is produced
    twice or skipped."""
    from conduix import Batch
    from conduix_kafka._client import kafka
    from conduix_kafka._config import KafkaSinkConfig
    from conduix_kafka._delivery import IN_FLIGHT, REJECTED, Attempt
    from conduix_kafka._producing import RecordProducer

    class Producer:
        def __init__(self) -> None:
            self.sent: list[bytes] = []
            self.full = {b'{"n":2}': 2}  # refused twice: the loop polls for room, then it goes
            self.polls = 0

        def produce(self, topic: str, value: bytes, key: Any = None, *, headers: Any = None,
                    on_delivery: Any = None) -> None:
            assert topic == "t" and key is None and headers is None and on_delivery is not None
            if self.full.get(value):
                self.full[value] -= 1
                raise BufferError("queue full")
            if value == b'{"n":4}':
                raise kafka.KafkaException(kafka.KafkaError(kafka.KafkaError.MSG_SIZE_TOO_LARGE))
            self.sent.append(value)

        def poll(self, timeout: float) -> int:
            self.polls += 1
            return 0

    records = RecordProducer(KafkaSinkConfig(brokers="127.0.0.1:9", topic="t"))
    records.producer = producer = Producer()
    batch = Batch([{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}])
    attempt = Attempt(batch)
    records.produce(attempt, list(range(6)))
    assert producer.sent == [b'{"n":0}', b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":5}']
    assert attempt.status == [IN_FLIGHT] * 4 + [REJECTED, IN_FLIGHT] and attempt.in_flight == 5
    assert producer.polls >= 2  # one wait for room, one at the end

    unencodable = Batch([{"n": 0}, {"n": {1, 2}}, {"n": 6}])  # a set is not JSON
    attempt = Attempt(unencodable)
    producer.sent.clear()
    records.produce(attempt, [0, 1, 2])
    assert producer.sent == [b'{"n":0}', b'{"n":6}']
    assert attempt.status == [IN_FLIGHT, REJECTED, IN_FLIGHT] and attempt.in_flight == 2

    attempt = Attempt(batch)  # a retry of some records only: the others keep their status
    attempt.status[1] = REJECTED
    producer.sent.clear()
    records.produce(attempt, [0, 2, 3, 5])
    assert producer.sent == [b'{"n":0}', b'{"n":2}', b'{"n":3}', b'{"n":5}']
    assert attempt.status == [IN_FLIGHT, REJECTED, IN_FLIGHT, IN_FLIGHT, 0, IN_FLIGHT] and attempt.in_flight == 4


def test_a_typo_in_a_kafka_key_is_a_config_error_that_names_the_key() -> None:
    text = textwrap.dedent("""
        sources:
          in: {type: kafka, brokers: "127.0.0.1:9", topics: [a], group_id: g, sesion_timeout_ms: 6000}
        sinks:
          out: {type: kafka, inputs: [in], brokers: "127.0.0.1:9", topic: "{{ oops"}
    """)
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(text, registry=get_plugin_host().registry)
    message = str(info.value)
    assert "sesion_timeout_ms" in message and "session_timeout_ms" in message
    assert "topic" in message and "{{ oops" in message


def test_the_plugin_registers_both_components_without_importing_the_client() -> None:
    registry = get_plugin_host().registry
    entries = {(e.kind, e.type_name): e for e in registry.entries()}
    assert entries[("source", "kafka")].distribution == "conduix-connectors-kafka"
    assert entries[("sink", "kafka")].target == "conduix_kafka.sink:KafkaSink"  # by name: nothing imported yet


class _Error:
    def __init__(self, code: int) -> None:
        self._code = code

    def code(self) -> int:
        return self._code

    def str(self) -> str:
        return f"error {self._code}"


class _Message:
    def __init__(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self._parts = (topic, key, value)

    def topic(self) -> str:
        return self._parts[0]

    def key(self) -> bytes | None:
        return self._parts[1]

    def value(self) -> bytes | None:
        return self._parts[2]


def test_failed_deliveries_are_matched_to_their_records_and_the_rest_is_done() -> None:
    from confluent_kafka import KafkaError

    from conduix import Batch
    from conduix_kafka._delivery import DONE, IN_FLIGHT, REJECTED, TODO, Attempt

    values = [b"a", b"b", b"a", b"c"]
    attempt = Attempt(Batch([{"v": v} for v in values]))
    report = attempt.reports()
    attempt.status = [IN_FLIGHT] * 4
    attempt.in_flight = 4
    report(None, _Message("t", None, b"a"))
    report(_Error(KafkaError._MSG_TIMED_OUT), _Message("t", None, b"a"))  # one of the two identical records
    report(_Error(KafkaError.MSG_SIZE_TOO_LARGE), _Message("t", None, b"c"))
    report(None, _Message("t", None, b"b"))
    assert attempt.in_flight == 0
    attempt.settle(lambda i: ("t", None, values[i]))
    assert sorted(attempt.status) == sorted([DONE, DONE, TODO, REJECTED])
    assert attempt.status[1] == DONE and attempt.status[3] == REJECTED
    assert {attempt.status[0], attempt.status[2]} == {DONE, TODO}
    assert [r.index for r in attempt.rejects()] == [3]


def test_reports_from_a_replaced_producer_are_ignored() -> None:
    from confluent_kafka import KafkaError

    from conduix import Batch
    from conduix_kafka._delivery import IN_FLIGHT, TODO, Attempt

    attempt = Attempt(Batch([{"v": 1}]))
    stale = attempt.reports()
    attempt.status = [IN_FLIGHT]
    attempt.in_flight = 1
    attempt.reset_in_flight()  # the producer was replaced: the record is sent again
    stale(_Error(KafkaError._PURGE_QUEUE), _Message("t", None, b"1"))
    assert attempt.in_flight == 0 and attempt.status == [TODO] and attempt.failures == []


def test_an_idempotent_sink_whose_deliveries_keep_timing_out_starts_a_new_producer(tmp_path: Any) -> None:
    """A broker restarted without its state answers UNKNOWN_PRODUCER_ID to the old producer id for good (librdkafka
    retries until the records time out): after a few such deliveries in a row the sink gets a new producer."""
    from conduix import Batch
    from conduix.components import Context
    from conduix.connector import RetryableError
    from conduix_kafka._config import KafkaSinkConfig
    from conduix_kafka.sink import TIMEOUTS_BEFORE_NEW_PRODUCER, KafkaSink

    sink = KafkaSink(KafkaSinkConfig(brokers="127.0.0.1:9", topic="t", message_timeout_ms=1000, flush_timeout=30),
                     Context(component_id="out", state_dir=tmp_path))
    sink.open()
    try:
        batch = Batch([{"seq": 1}, {"seq": 2}])
        first = sink._producer
        for _ in range(TIMEOUTS_BEFORE_NEW_PRODUCER):
            with pytest.raises(RetryableError, match="timed out"):
                sink.write(batch)
            assert sink._producer is first
        with pytest.raises(RetryableError, match="timed out"):  # the records are sent again, by a new producer
            sink.write(batch)
        assert sink._producer is not first
    finally:
        sink._producer.purge()


def test_closing_a_source_whose_consumer_cannot_leave_its_group_gives_up_in_time(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With no broker answering after the group session timed out, librdkafka's close waited for ever (seen under
    load in Scenario 2): the run never ended, so supervision could neither restart nor escalate it."""
    import threading

    from conduix.components import Context
    from conduix_kafka import source as source_module
    from conduix_kafka._client import kafka
    from conduix_kafka._config import KafkaSourceConfig
    from conduix_kafka.source import KafkaSource

    class StuckConsumer:
        def __init__(self, error: Exception | None = None) -> None:
            self.release, self.error, self.closed = threading.Event(), error, False

        def close(self) -> None:
            if self.error is not None:
                raise self.error
            self.release.wait(30)
            self.closed = True

    monkeypatch.setattr(source_module, "CLOSE_TIMEOUT", 0.2)
    source = KafkaSource(KafkaSourceConfig(brokers="127.0.0.1:9", topics=["t"], group_id="g"),
                         Context(component_id="in", state_dir=tmp_path))
    stuck = StuckConsumer()
    source._consumer = stuck
    source.close()  # returns although the consumer's close does not
    assert not stuck.closed and "did not commit and leave its group within" in caplog.text
    stuck.release.set()

    source._consumer = StuckConsumer(kafka.KafkaException("close failed"))
    with pytest.raises(kafka.KafkaException, match="close failed"):  # a close that fails in time still says so
        source.close()


def test_records_fetched_before_an_outage_do_not_hide_it(tmp_path: Any) -> None:
    """librdkafka may report 'all brokers down' once only: messages fetched before the outage that arrive after
    it must not count as a sign of life, or the source never fails and supervision never escalates (seen in
    Scenario 2 under load)."""
    import time

    from conduix.components import Context
    from conduix.connector import ConnectorError
    from conduix_kafka._client import kafka
    from conduix_kafka._config import KafkaSourceConfig
    from conduix_kafka.source import KafkaSource

    class Prefetched:  # of a partition lost meanwhile: read, not kept
        def error(self) -> None:
            return None

        def topic(self) -> str:
            return "t"

        def partition(self) -> int:
            return 0

    class DownConsumer:
        def __init__(self) -> None:
            self.fetched, self.probes = [[Prefetched()], [Prefetched()]], 0

        def consume(self, max_records: int, timeout: float) -> list[Any]:
            return self.fetched.pop(0) if self.fetched else []

        def list_topics(self, timeout: float) -> Any:
            self.probes += 1
            raise kafka.KafkaException(kafka.KafkaError(kafka.KafkaError._TRANSPORT))

    source = KafkaSource(KafkaSourceConfig(brokers="127.0.0.1:9", topics=["t"], group_id="g", unreachable_timeout=1),
                         Context(component_id="in", state_dir=tmp_path))
    source._consumer = consumer = DownConsumer()
    source._lag_at = time.monotonic() + 3600
    source._down_since = time.monotonic() - 2  # 'all brokers down', reported once, two seconds ago
    assert source.read(10).records == [] and source.read(10).records == []  # messages still arrive: no probe yet
    assert consumer.probes == 0
    with pytest.raises(ConnectorError, match="unreachable_timeout"):  # then the first empty read probes, and fails
        source.read(10)
    assert consumer.probes == 1


def test_records_and_metadata_of_a_read_field_for_field(tmp_path: Any) -> None:
    """What a read gives for messages with and without keys and headers, from one or more partitions, with an
    error and a partition not owned among them: its records, rejects, metadata dicts (fields in order, a headers
    dict of each record's own) and the offsets it reports."""
    import time

    from conduix.components import Context
    from conduix_kafka._client import kafka
    from conduix_kafka._config import KafkaSourceConfig
    from conduix_kafka.source import KafkaSource

    def message(topic: str, partition: int, offset: int = -1, value: bytes | None = None, **fields: Any) -> Any:
        # a consumed message as confluent-kafka makes it (2.13+, the test extra's pin): the source reads it with
        # its type's methods
        return kafka.Message(topic=topic, partition=partition, offset=offset, value=value,
                             timestamp=(kafka.TIMESTAMP_CREATE_TIME, 1_700_000_000_000 + offset), **fields)

    class Consumer:
        def __init__(self, batches: list[list[Any]]) -> None:
            self.batches = batches

        def consume(self, max_records: int, timeout: float) -> list[Any]:
            return self.batches.pop(0)

    source = KafkaSource(KafkaSourceConfig(brokers="127.0.0.1:9", topics=["t", "u"], group_id="g",
                                           decoding="json"),
                         Context(component_id="in", state_dir=tmp_path))
    for key in ("t:0", "t:1", "u:1"):
        source._offsets.assign(key, None)
    eof = message("t", 1, error=kafka.KafkaError(kafka.KafkaError._PARTITION_EOF))
    source._consumer = Consumer([
        [message("t", 0, 10, b'{"a": 1}'), message("t", 0, 11, b'{"a": 2}'), message("t", 0, 12, b'{"c": [3]}')],
        [message("t", 0, 20, b'{"a": 1}', key=b"k\xff", headers=[("h", b"v"), ("n", None)]),
         message("t", 0, 21, b'"text"'), eof, message("t", 1, 5, b'{"b": 2}', headers=[]),
         message("t", 2, 3, b'{"lost": 1}'),  # of a partition revoked meanwhile: its new owner reads it
         message("u", 1, 7, b'{"c": 3}', key=b"u"), message("t", 0, 22, b'{"a": 3}', key=b"again")],
        [message("t", 1, 8, b'{"a": 1}'), message("t", 1, 9, b"not json"), message("t", 1, 10, None)]])
    source._lag_at = time.monotonic() + 3600
    one, mixed, bad = source.read(1000), source.read(1000), source.read(1000)

    assert one.records == [{"a": 1}, {"a": 2}, {"c": [3]}] and one.rejects is None
    assert one.meta is not None and mixed.meta is not None and bad.meta is not None
    assert one.meta[0] == {"source": "in", "topic": "t", "partition": 0, "offset": 10, "key": None, "headers": {},
                           "timestamp": 1_700_000_000_010}
    assert [m["offset"] for m in one.meta] == [10, 11, 12]
    assert one.meta[0]["headers"] is not one.meta[1]["headers"]  # one dict each: a component may change one
    assert mixed.records == [{"a": 1}, {"message": "text"}, {"b": 2}, {"c": 3}, {"a": 3}]
    assert list(mixed.meta[0]) == ["source", "topic", "partition", "offset", "key", "headers", "timestamp"]
    assert [(m["topic"], m["partition"], m["offset"], m["key"], m["headers"], m["timestamp"]) for m in mixed.meta] == [
        ("t", 0, 20, "k\ufffd", {"h": "v", "n": None}, 1_700_000_000_020), ("t", 0, 21, None, {}, 1_700_000_000_021),
        ("t", 1, 5, None, {}, 1_700_000_000_005), ("u", 1, 7, "u", {}, 1_700_000_000_007),
        ("t", 0, 22, "again", {}, 1_700_000_000_022)]
    assert bad.records == [{"a": 1}, {"message": None}] and [m["offset"] for m in bad.meta] == [8, 10]
    assert bad.rejects is not None and [(r.record, r.meta) for r in bad.rejects] == [
        ({"message": "not json"}, {"source": "in", "topic": "t", "partition": 1, "offset": 9, "key": None,
                                   "headers": {}, "timestamp": 1_700_000_000_009})]
    assert str(bad.rejects[0].error).startswith("invalid JSON")
    assert source._first_read == {"t:0": 10, "t:1": 5, "u:1": 7}  # the first offset read per partition
    for batch in (one, mixed, bad):
        source.acknowledge(batch.position)
    assert source._offsets.watermarks() == {"t:0": 23, "t:1": 11, "u:1": 8}  # past the last offsets read


def test_connection_failures_are_logged_once_per_period_with_what_was_held_back(monkeypatch: Any, caplog: Any) -> None:
    from conduix_kafka import _client
    from conduix_kafka._client import kafka

    now = [1000.0]
    monkeypatch.setattr(_client, "monotonic", lambda: now[0])
    monkeypatch.setattr(_client, "_repeats", {})
    refused = kafka.KafkaError(kafka.KafkaError._TRANSPORT, "127.0.0.1:9/bootstrap: Connect failed")
    down = kafka.KafkaError(kafka.KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    with caplog.at_level(logging.INFO, logger="conduix_kafka"):
        for _ in range(40):  # librdkafka: every 50 ms
            _client.log_client_error("in", refused)
            _client.log_client_error("in", down)
            _client.client_logger.error("FAIL [conduix-p-in#consumer-1] [thrd:main]: Connect failed")
            now[0] += 0.05
        _client.log_client_error("out", refused)  # another component: its own count
        now[0] += _client.REPEAT_EVERY
        _client.log_client_error("in", refused)
        _client.client_logger.error("ERROR [conduix-p-in#consumer-1]: something else")
    assert [r.getMessage() for r in caplog.records] == [
        "kafka 'in': 127.0.0.1:9/bootstrap: Connect failed (librdkafka reconnects)",
        "kafka 'in': 1/1 brokers are down (librdkafka reconnects)",
        "kafka 'out': 127.0.0.1:9/bootstrap: Connect failed (librdkafka reconnects)",
        "kafka 'in': 127.0.0.1:9/bootstrap: Connect failed (librdkafka reconnects; 39 more like it since the last "
        "report)",
        "ERROR [conduix-p-in#consumer-1]: something else",
    ]
