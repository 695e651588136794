"""The message sources hand back a batch that will not be written as soon as the runtime says so (nack),
and the message sinks give up connecting when the run is stopped (the run ends stopped, not failed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from conduix.connector import Context
from conduix.testing import eventually
from conduix_messaging.amqp.source import AmqpSource, AmqpSourceConfig
from conduix_messaging.nats.source import NatsSource, NatsSourceConfig

from . import amqp_helpers
from .conftest import free_port, run_async, sink_of, start_pipeline, unique
from .nats_helpers import add_stream, consumer_state, publish


def opened(source: Any) -> Any:
    source.open()
    return source


@pytest.mark.integration("rabbitmq")
def test_an_amqp_batch_nacked_goes_to_the_dead_letter_exchange_at_once(amqp_url: str) -> None:
    queue, dead = unique("q"), unique("dlq")
    amqp_helpers.run(amqp_helpers.declare(amqp_url, dead))
    amqp_helpers.run(amqp_helpers.declare(amqp_url, queue, **{"x-dead-letter-exchange": "",
                                                              "x-dead-letter-routing-key": dead}))
    amqp_helpers.run(amqp_helpers.publish(amqp_url, queue, [orjson.dumps({"id": i}) for i in range(3)]))
    source = opened(AmqpSource(AmqpSourceConfig(url=amqp_url, queue=queue, on_failure="dead_letter"),
                               Context("in")))
    try:
        batch = eventually(lambda: (b := source.read(10)) is not None and len(b) == 3 and b, 10, "the 3 messages")
        source.nack(batch.position, "a stage failed on it")
        # while the source is still open: the broker has them in the dead-letter queue already
        eventually(lambda: amqp_helpers.run(amqp_helpers.count(amqp_url, dead)) == 3, 10, "3 dead letters")
    finally:
        source.close()
    assert amqp_helpers.run(amqp_helpers.count(amqp_url, queue)) == 0


@pytest.mark.integration("nats")
def test_a_jetstream_batch_nacked_is_redelivered_without_waiting_for_ack_wait(nats_url: str) -> None:
    stream, subject = unique("S"), unique("nack")
    run_async(add_stream(nats_url, stream, [subject]))
    run_async(publish(nats_url, [(subject, orjson.dumps({"id": i})) for i in range(2)], stream=True))
    config = NatsSourceConfig(servers=[nats_url], subjects=[subject], jetstream={
        "stream": stream, "durable": "d", "ack_wait": 600, "nak_delay": 0})
    source = opened(NatsSource(config, Context("in")))
    try:
        first = eventually(lambda: (b := source.read(10)) is not None and len(b) == 2 and b, 10, "2 messages")
        source.nack(first.position, "a sink could not open")
        again = eventually(lambda: (b := source.read(10)) is not None and len(b) == 2 and b, 10,
                           "the 2 messages again, long before ack_wait (600 s)")
        assert [m["num_delivered"] for m in again.meta] == [2, 2]
        source.acknowledge(again.position)
        eventually(lambda: run_async(consumer_state(nats_url, stream, "d")) == (0, 0), 10, "the acks")
    finally:
        source.close()


@pytest.mark.parametrize("sink", [
    pytest.param({"type": "amqp", "routing_key": "x", "startup_timeout": None},
                 marks=pytest.mark.integration("rabbitmq")),
    pytest.param({"type": "nats", "subject": "x", "startup_timeout": None}, marks=pytest.mark.integration("nats")),
], ids=["amqp", "nats"])
def test_a_sink_still_connecting_gives_up_when_the_run_stops(sink: dict[str, Any], tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: the sink would keep trying forever
    address = {"url": f"amqp://guest:guest@{dead}/"} if sink["type"] == "amqp" else {"servers": [f"nats://{dead}"]}
    records = [{"id": i} for i in range(5)]
    run = start_pipeline({
        "settings": {"shutdown_timeout": 60},
        "sources": {"in": {"type": "list", "records": records, "batch_size": 1}},
        "sinks": {"out": {**sink, **address, "inputs": ["in"]}}}, tmp_path)
    eventually(lambda: run.nodes["in"].stats.records_in >= 1, 10, "records read while the sink connects")
    run.stop()
    assert run.join(60), "the run did not stop"
    assert run.result.ok, run.result.error  # a stop, not a failure
    assert sink_of(run, "in").acknowledged == []  # nothing was written, nothing acknowledged
