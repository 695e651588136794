"""Consumer lag of the message sources (``Source.lag``): JetStream pending messages, AMQP queue depth; what was
delivered but not yet acknowledged counts too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from conduix.connector import Context
from conduix.testing import eventually
from conduix_messaging.amqp.source import AmqpSource, AmqpSourceConfig

from . import amqp_helpers
from .conftest import run_async, start_pipeline, stop, unique
from .nats_helpers import add_stream, publish


def holding(source: dict[str, Any], hold: bool) -> dict[str, Any]:
    """``hold``: an hour-long window keeps every batch unacknowledged."""
    transforms = {"hourly": {"type": "aggregate", "inputs": ["in"], "window": {"type": "tumbling", "size": "1h"},
                             "aggregations": {"n": {"type": "count"}}}} if hold else {}
    return {"settings": {"batch_size": 50}, "sources": {"in": source}, "transforms": transforms,
            "sinks": {"out": {"type": "blackhole", "inputs": ["hourly" if hold else "in"]}}}


def lag_of(run: Any) -> int | None:
    lag = run.nodes["in"].lag()
    return None if lag is None else sum(lag.values())


@pytest.mark.integration("nats")
def test_jetstream_lag_is_the_consumers_pending_messages(nats_url: str, tmp_path: Path) -> None:
    stream, subject = unique("LAG"), unique("lag")
    run_async(add_stream(nats_url, stream, [subject]))
    run_async(publish(nats_url, [(subject, orjson.dumps({"id": i})) for i in range(500)], stream=True))
    source = {"type": "nats", "servers": nats_url, "subjects": subject, "max_in_flight": 100,
              "jetstream": {"stream": stream, "durable": "held"}}
    held = start_pipeline(holding(source, hold=True), tmp_path / "held")
    try:  # 100 delivered and held, 400 not delivered
        eventually(lambda: lag_of(held) == 500 and held.nodes["in"].stats.records_out == 100, 30,
                   "every message pending")
        assert held.nodes["in"].lag() == {stream: 500}
    finally:
        stop(held)
    flowing = start_pipeline(holding({**source, "jetstream": {"stream": stream, "durable": "flowing"}}, hold=False),
                             tmp_path / "flowing")
    try:
        eventually(lambda: lag_of(flowing) == 0 and flowing.nodes["in"].stats.records_out == 500, 30,
                   "no lag once every message is written")
    finally:
        stop(flowing)


@pytest.mark.integration("rabbitmq")
def test_amqp_lag_is_the_queue_depth(amqp_url: str, tmp_path: Path) -> None:
    queue = unique("lag")
    amqp_helpers.run(amqp_helpers.declare(amqp_url, queue))
    amqp_helpers.run(amqp_helpers.publish(amqp_url, queue, [orjson.dumps({"id": i}) for i in range(500)]))
    source = {"type": "amqp", "url": amqp_url, "queue": queue, "prefetch": 100}
    held = start_pipeline(holding(source, hold=True), tmp_path / "held")
    try:  # 100 delivered and held (the prefetch window), 400 ready in the queue; the first depth read may
        # predate the deliveries (500 ready, nothing held), so wait for the whole window to be read too
        eventually(lambda: lag_of(held) == 500 and held.nodes["in"].stats.records_out == 100, 30,
                   lambda: f"the queue's depth plus what is held (lag: {held.nodes['in'].lag()}, "
                           f"{held.nodes['in'].stats.records_out} read)")
        assert held.nodes["in"].lag() == {queue: 500}
    finally:
        stop(held)  # stopping closes the window: its 100 records are written and acknowledged
    flowing = start_pipeline(holding(source, hold=False), tmp_path / "flowing")
    try:
        eventually(lambda: lag_of(flowing) == 0 and flowing.nodes["in"].stats.records_out == 400, 30,
                   lambda: f"no lag once every message is written (lag {flowing.nodes['in'].lag()}, "
                           f"{flowing.nodes['in'].stats.records_out} read)")
    finally:
        stop(flowing)


@pytest.mark.integration("rabbitmq")
def test_amqp_lag_counts_the_prefetched_messages_not_yet_read(amqp_url: str) -> None:
    """Delivered into the prefetch buffer but not yet in a batch: unacknowledged, so still lag."""
    queue = unique("lag")
    amqp_helpers.run(amqp_helpers.declare(amqp_url, queue))
    amqp_helpers.run(amqp_helpers.publish(amqp_url, queue, [orjson.dumps({"id": i}) for i in range(30)]))
    source = AmqpSource(AmqpSourceConfig(url=amqp_url, queue=queue, prefetch=20), Context("in"))
    source.open()
    try:  # nothing read: 20 in the prefetch buffer, 10 ready; then 5 read into a batch
        eventually(lambda: source.lag() == {queue: 30} and source._queue.qsize() == 20, 30,
                   lambda: f"30 unacknowledged before any read (lag {source.lag()})")
        batch = source.read(5)
        assert batch is not None and len(batch) == 5
        assert source.lag() == {queue: 30}
    finally:
        source.close()
