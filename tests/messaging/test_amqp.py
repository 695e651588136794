"""AMQP source and sink against the machine's RabbitMQ (unique queues per test)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from conduix.testing import eventually, run_pipeline

from .amqp_helpers import count, declare, drain, publish, run
from .conftest import sink_of, start_pipeline, stop, unique

pytestmark = pytest.mark.integration("rabbitmq")


def test_source_acks_after_write_and_rejects_bad_json(amqp_url: str, tmp_path: Path) -> None:
    queue = unique("q")
    run(declare(amqp_url, queue))
    bodies = [orjson.dumps({"id": i}) for i in range(300)]
    bodies[42] = b"not json"
    run(publish(amqp_url, queue, bodies))
    pipeline = start_pipeline({
        "settings": {"batch_size": 64},
        "sources": {"in": {"type": "amqp", "url": amqp_url, "queue": queue, "prefetch": 100,
                           "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]},
                  "dead": {"type": "collect", "inputs": ["in.dead_letter"]}}}, tmp_path)
    try:
        eventually(lambda: len(sink_of(pipeline, "out").records) == 299, 20, "299 good records")
        eventually(lambda: len(sink_of(pipeline, "dead").records) == 1, 5, "the bad record dead-lettered")
    finally:
        stop(pipeline)
    assert [r["id"] for r in sink_of(pipeline, "out").records] == [i for i in range(300) if i != 42]
    meta = sink_of(pipeline, "out").meta[0]
    assert meta["queue"] == queue and meta["routing_key"] == queue and meta["redelivered"] is False
    assert sink_of(pipeline, "dead").records[0]["record"] == {"message": "not json"}
    assert run(count(amqp_url, queue)) == 0  # all acked, the bad one too: nothing came back after close


def test_source_requeues_what_the_failed_run_did_not_write(amqp_url: str, tmp_path: Path) -> None:
    queue = unique("q")
    run(declare(amqp_url, queue))
    run(publish(amqp_url, queue, [orjson.dumps({"id": i}) for i in range(100)]))
    source = {"type": "amqp", "url": amqp_url, "queue": queue, "prefetch": 50}
    failed = start_pipeline({"settings": {"batch_size": 10}, "sources": {"in": source},
                             "sinks": {"out": {"type": "collect", "inputs": ["in"], "fail_on": 3}}},
                            tmp_path / "a")
    assert failed.join(20) and failed.error is not None
    written = {r["id"] for r in sink_of(failed, "out").records}
    assert 0 < len(written) <= 20  # two batches of at most 10 were written before the third failed
    second = start_pipeline({"settings": {"batch_size": 10}, "sources": {"in": source},
                             "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path / "b")
    try:
        eventually(lambda: written | {r["id"] for r in sink_of(second, "out").records} == set(range(100)), 20,
                   "every message over the two runs")
    finally:
        stop(second)
    redelivered = [m for m in sink_of(second, "out").meta if m["redelivered"]]
    assert redelivered  # the failed batch and the prefetched deliveries were requeued, not lost


def test_source_dead_letters_to_the_queue_dlx_on_failure(amqp_url: str, tmp_path: Path) -> None:
    queue, dlq = unique("q"), unique("dlq")
    run(declare(amqp_url, dlq))
    source = {"type": "amqp", "url": amqp_url, "queue": queue, "declare": True, "on_failure": "dead_letter",
              "queue_arguments": {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}}
    # the source declares the queue with its dead-letter arguments; then messages arrive
    first = start_pipeline({"sources": {"in": source},
                            "sinks": {"out": {"type": "collect", "inputs": ["in"], "fail_on": 1}}}, tmp_path / "a")
    eventually(lambda: first.nodes["in"].opened.is_set(), 10, "the queue to be declared")
    run(publish(amqp_url, queue, [orjson.dumps({"id": i}) for i in range(5)]))
    assert first.join(20) and first.error is not None
    # what the failed run had read went to the dead-letter queue; what it had not read was requeued
    eventually(lambda: run(count(amqp_url, dlq)) + run(count(amqp_url, queue)) == 5, 10, "all 5 messages back")
    dead = [r["id"] for r, _ in run(drain(amqp_url, dlq))]
    failed_batch = [r["id"] for r in sink_of(first, "out").records] or [0]
    assert dead and set(failed_batch) <= set(dead)


def test_sink_confirms_routes_by_template_and_reports_unroutable(amqp_url: str) -> None:
    exchange, queue = unique("ex"), unique("q")
    sink = {"type": "amqp", "inputs": ["in"], "url": amqp_url, "exchange": exchange,
            "routing_key": "orders.{region}", "message_id": "{id}", "on_error": "dead_letter",
            "declare_exchanges": [{"name": exchange, "type": "topic", "durable": False}]}
    # the first run declares the exchange; bind a queue to orders.eu only, then publish both regions
    run_pipeline({"sources": {"in": {"type": "list", "records": []}}, "sinks": {"out": sink}})

    async def bind() -> None:
        import aio_pika

        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, durable=True)
            await q.bind(exchange, "orders.eu")

    run(bind())
    records = [{"id": i, "region": "eu" if i % 4 else "us"} for i in range(40)]
    result = run_pipeline({"settings": {"batch_size": 16}, "sources": {"in": {"type": "list", "records": records}},
                           "sinks": {"out": sink, "dead": {"type": "collect", "inputs": ["out.dead_letter"]}}})
    stored = run(drain(amqp_url, queue))
    assert [r["id"] for r, _ in stored] == [r["id"] for r in records if r["region"] == "eu"]
    message = stored[0][1]
    assert message.delivery_mode == 2 and message.content_type == "application/json"
    assert message.message_id == str(stored[0][0]["id"])
    dead = result.records("dead")
    assert sorted(d["record"]["id"] for d in dead) == [i for i in range(40) if i % 4 == 0]
    assert "unroutable" in dead[0]["error"] and "orders.us" in dead[0]["error"]
    assert result.result.stats["out"].records_out == 30
