"""The NATS and AMQP examples (examples/nats_*.yaml, amqp_*.yaml, http_webhook_to_amqp.yaml) run with
``conduix run`` against real servers and do what their comments say. Each runs against a NATS server of its
own (the examples use fixed subjects and streams) and, on the machine's RabbitMQ, under queue and exchange
names of its own; everything else is as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
import pytest

from tests.running import EXAMPLES, load_example, read_jsonl, until
from tests.servers import free_port

from . import amqp_helpers as amqp
from .amqp_helpers import count, declare, drain, run
from .conftest import NatsServer, unique
from .nats_helpers import add_stream, consumer_state, publish, stream_exists, stream_messages, stream_records

pytestmark = [pytest.mark.integration("nats"), pytest.mark.integration("amqp")]

MESSAGING_EXAMPLES = sorted(str(p.relative_to(EXAMPLES.parent))
                            for pattern in ("nats_*.yaml", "amqp_*.yaml", "http_webhook_to_amqp.yaml")
                            for p in EXAMPLES.glob(pattern))


class AmqpNames:
    """Queue and exchange names of one test, deleted from the shared broker after it."""

    def __init__(self) -> None:
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def queue(self, prefix: str) -> str:
        self.queues.append(unique(prefix))
        return self.queues[-1]

    def exchange(self, prefix: str) -> str:
        self.exchanges.append(unique(prefix))
        return self.exchanges[-1]


@pytest.fixture
def amqp_names(amqp_url: str) -> Iterator[AmqpNames]:
    names = AmqpNames()
    yield names
    run(amqp.delete(amqp_url, queues=tuple(names.queues), exchanges=tuple(names.exchanges)))


@pytest.mark.parametrize("example", MESSAGING_EXAMPLES)
def test_example_validates(cli: Any, example: str) -> None:
    result = cli("validate", example)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nats_jetstream_to_file_archives_orders_and_acks_each_once_written(
        nats_server: NatsServer, conduix_process: Any, tmp_path: Path) -> None:
    """The source creates the ORDERS stream; orders land in the archive file, a body that is not JSON in the
    bad-messages file, and the durable consumer has nothing left to deliver or to be acknowledged."""
    proc = conduix_process(load_example("nats_jetstream_to_file.yaml"), cwd=tmp_path,
                           env={"NATS_URL": nats_server.url}).start()
    until(proc, lambda: run(stream_exists(nats_server.url, "ORDERS")))
    orders = [(f"orders.{'eu' if i % 3 else 'us'}", orjson.dumps({"id": i, "amount": i * 1.5})) for i in range(50)]
    run(publish(nats_server.url, [*orders[:20], ("orders.eu", b"{not json"), *orders[20:]], stream=True))
    archive, bad = tmp_path / ".conduix" / "orders-archive.jsonl", tmp_path / ".conduix" / "orders-bad.jsonl"
    until(proc, lambda: len(read_jsonl(archive)) == 50 and len(read_jsonl(bad)) == 1)
    # every message, the bad one included, acknowledged
    until(proc, lambda: run(consumer_state(nats_server.url, "ORDERS", "conduix-archive")) == (0, 0))
    code = proc.stop()  # records failed on purpose: completed with errors, exit 3
    assert code == 3 and "record errors (orders: 1)" in proc.output(), proc.output()
    assert [r["id"] for r in read_jsonl(archive)] == list(range(50))
    assert read_jsonl(archive)[3] == {"id": 3, "amount": 4.5}
    assert read_jsonl(bad)[0]["record"] == {"message": "{not json"}


def test_amqp_queue_to_jetstream_routes_by_type_and_the_stream_drops_repeated_job_ids(
        nats_server: NatsServer, amqp_url: str, amqp_names: AmqpNames, conduix_process: Any, tmp_path: Path) -> None:
    queue = amqp_names.queue("jobs")
    run(add_stream(nats_server.url, "JOBS", ["jobs.>"]))
    jobs = [{"job_id": f"j{i}", "type": "resize" if i % 2 else "encode"} for i in range(30)]
    run(declare(amqp_url, queue))
    run(amqp.publish(amqp_url, queue, [orjson.dumps(j) for j in [*jobs[:10], jobs[4], *jobs[10:]]]))  # j4 twice
    config = load_example("amqp_queue_to_jetstream.yaml")
    config["sources"]["jobs"]["queue"] = queue
    proc = conduix_process(config, cwd=tmp_path, env={"NATS_URL": nats_server.url, "AMQP_URL": amqp_url}).start()
    until(proc, lambda: run(count(amqp_url, queue)) == 0 and len(run(stream_records(nats_server.url, "JOBS"))) == 30)
    assert proc.stop() == 0, proc.output()
    assert run(stream_records(nats_server.url, "JOBS")) == jobs
    assert [m.subject for m in run(stream_messages(nats_server.url, "JOBS"))[:2]] == ["jobs.encode", "jobs.resize"]
    assert run(count(amqp_url, queue)) == 0, "every delivery acknowledged once the stream stored it"
    assert read_jsonl(tmp_path / ".conduix" / "jobs-failed.jsonl") == []


def test_nats_to_amqp_bridge_routes_events_by_kind_into_a_topic_exchange(
        nats_server: NatsServer, amqp_url: str, amqp_names: AmqpNames, conduix_process: Any, tmp_path: Path) -> None:
    """Events on core NATS subjects reach the queue bound to their kind's routing key; events of a kind no
    queue is bound for are dropped (on_error: drop) and the bridge goes on."""
    exchange, queue = amqp_names.exchange("events"), amqp_names.queue("clicks")
    config = load_example("nats_to_amqp_bridge.yaml")
    config["sinks"]["rabbit"]["exchange"] = exchange
    config["sinks"]["rabbit"]["declare_exchanges"][0]["name"] = exchange
    proc = conduix_process(config, cwd=tmp_path, env={"NATS_URL": nats_server.url, "AMQP_URL": amqp_url}).start()

    async def bind() -> bool:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, durable=True)
            await q.bind(exchange, "events.click")  # fails until the bridge declared the exchange
        return True

    until(proc, lambda: run(bind()), ignore=(aio_pika.exceptions.AMQPError,))

    def probe_arrives() -> bool:  # core NATS keeps nothing: publish until the bridge is subscribed
        run(publish(nats_server.url, [("events.web", orjson.dumps({"kind": "click", "probe": True}))]))
        return run(count(amqp_url, queue)) > 0

    until(proc, probe_arrives)
    events = [{"id": i, "kind": "click" if i % 3 else "view"} for i in range(30)]
    run(publish(nats_server.url, [(f"events.{e['kind']}", orjson.dumps(e)) for e in events]))
    clicks = [e for e in events if e["kind"] == "click"]
    delivered: list[tuple[dict[str, Any], Any]] = []

    def take() -> None:  # probes published while the bridge was subscribing may still come: leave them out
        delivered.extend((record, message) for record, message in run(drain(amqp_url, queue))
                         if not record.get("probe"))

    until(proc, lambda: take() or len(delivered) >= len(clicks))
    code = proc.stop()  # records failed on purpose: completed with errors, exit 3
    assert code == 3 and "record errors (rabbit: " in proc.output(), proc.output()
    take()  # nothing more: no click twice, no view
    assert [record for record, _ in delivered] == clicks
    assert {message.routing_key for _, message in delivered} == {"events.click"}


def test_http_webhook_to_amqp_answers_once_rabbitmq_has_the_message(
        amqp_url: str, amqp_names: AmqpNames, conduix_process: Any, tmp_path: Path) -> None:
    queue, port = amqp_names.queue("webhooks"), free_port()
    run(declare(amqp_url, queue))
    config = load_example("http_webhook_to_amqp.yaml")
    config["sources"]["hooks"]["port"] = port
    config["sinks"]["rabbit"]["routing_key"] = queue
    proc = conduix_process(config, cwd=tmp_path, env={"AMQP_URL": amqp_url}).start()
    url = f"http://127.0.0.1:{port}/hooks"
    until(proc, lambda: httpx.get(url, timeout=2).status_code > 0, ignore=(httpx.TransportError,))
    assert httpx.post(url, json={"kind": "push", "id": 0}, timeout=10).status_code == 401  # no token
    for i in range(1, 6):
        answer = httpx.post(url, json={"kind": "push", "id": i}, headers={"Authorization": "Bearer dev-token"},
                            timeout=30)
        assert answer.status_code == 200, answer.text
        assert run(count(amqp_url, queue)) == i, "answered 200 before RabbitMQ confirmed the message"
    assert proc.stop() == 0, proc.output()
    assert [record for record, _ in run(drain(amqp_url, queue))] == [{"kind": "push", "id": i} for i in range(1, 6)]
