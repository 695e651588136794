"""NATS (core and JetStream) and AMQP round trips: publish N records, consume them back.

Conduix: ``generate -> nats|amqp sink`` (waiting for the server's acks/confirms, until the run
ends), then ``nats|amqp source -> blackhole`` (acking after the sink; the clock stops when the
run has stopped, every acknowledgement sent). Baseline: a plain nats-py / aio-pika loop doing the
same work in the same process, tuned as Conduix is: publish in batches of 1,000 awaiting every
ack or confirm (core NATS: a flush), then fetch/consume with the same window, acknowledging a
batch at once where the protocol allows it (AMQP ``multiple``; JetStream acknowledges each
message). Core NATS: the consumer runs while the producer publishes. Two rounds in alternating
order, best of each; CPU is this process's (the servers run apart). Issue 8's target: a ratio of
at least 0.7. Needs the NATS (JetStream) and RabbitMQ servers of TESTING.md.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import orjson
from _measure import Timing, alternating, measure, result

N = int(os.environ.get("CONDUIX_BENCH_MESSAGING_N", "100000"))
BATCH = 1000
ROUNDS = 2
NATS_URL = os.environ.get("CONDUIX_TEST_NATS", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("CONDUIX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
RECORD = {"user": "ada", "level": "info", "bytes": 512, "path": "/api/orders"}


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _build(pipeline: dict[str, Any]) -> Any:
    """The pipeline, validated and its plugins loaded: done before the clock starts, as the baseline's
    imports and set-up are."""
    from conduix import Pipeline

    return Pipeline.from_dict({"settings": {"batch_size": BATCH}, **pipeline})


def _run(p: Any, sink: str, n: int) -> None:
    """Run a pipeline until ``sink`` wrote ``n`` records, then stop it (a finite one: until it ends)."""
    run = p.start(state_dir=tempfile.mkdtemp(prefix="conduix-bench-"))
    while run.stats()[sink].records_out < n and not run.done:
        time.sleep(0.005)
    run.stop()  # drains: what was written is acknowledged to the server before the run ends
    run.join(60)
    if run.error is not None:
        raise RuntimeError(f"benchmark pipeline failed: {run.error}")


def _timed_runs(*steps: tuple[dict[str, Any], str], n: int) -> Timing:
    built = [(_build(pipeline), sink) for pipeline, sink in steps]
    with measure() as timing:
        for pipeline, sink in built:
            _run(pipeline, sink, n)
    return timing


# -- NATS JetStream ------------------------------------------------------------------------
async def _js_setup(stream: str, subject: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    await nc.jetstream().add_stream(name=stream, subjects=[subject])
    await nc.close()


async def _js_delete(stream: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


async def _js_baseline(n: int, stream: str, subject: str) -> Timing:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    with measure() as timing:
        await _js_work(n, stream, subject, nc, js)
    await nc.close()
    return timing


async def _js_work(n: int, stream: str, subject: str, nc: Any, js: Any) -> None:
    for first in range(0, n, BATCH):
        payloads = [orjson.dumps({**RECORD, "seq": i}) for i in range(first, min(first + BATCH, n))]
        await asyncio.gather(*(js.publish(subject, p) for p in payloads))
    sub = await js.pull_subscribe(subject, durable="baseline", stream=stream)
    got = 0
    while got < n:
        msgs = await sub.fetch(batch=BATCH, timeout=5)
        for msg in msgs:
            orjson.loads(msg.data)
            await msg.ack()
        got += len(msgs)
    await nc.flush()


def nats_jetstream(n: int) -> dict[str, Any]:
    def baseline(round_: int) -> Timing:
        stream, subject = _name("BENCHB"), _name("benchb")
        asyncio.run(_js_setup(stream, subject))
        try:
            return asyncio.run(_js_baseline(n, stream, subject))
        finally:
            asyncio.run(_js_delete(stream))

    def conduix(round_: int) -> Timing:
        stream, subject = _name("BENCHC"), _name("benchc")
        asyncio.run(_js_setup(stream, subject))
        try:
            return _timed_runs(
                ({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                  "sinks": {"out": {"type": "nats", "inputs": ["gen"], "servers": NATS_URL, "subject": subject,
                                    "jetstream": {}}}}, "out"),
                ({"sources": {"in": {"type": "nats", "servers": NATS_URL, "subjects": subject,
                                     "jetstream": {"stream": stream, "durable": "conduix"}}},
                  "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}, "out"), n=n)
        finally:
            asyncio.run(_js_delete(stream))

    best = alternating({"conduix": conduix, "baseline": baseline}, ROUNDS)
    return result("nats_jetstream_round_trip", n, best["conduix"], best["baseline"], rounds=ROUNDS)


# -- core NATS -------------------------------------------------------------------------------
async def _core_baseline(n: int, subject: str) -> Timing:
    import nats

    nc = await nats.connect(NATS_URL)
    done = asyncio.Event()
    got = 0

    async def on_message(msg: Any) -> None:
        nonlocal got
        orjson.loads(msg.data)
        got += 1
        if got >= n:
            done.set()

    await nc.subscribe(subject, cb=on_message, pending_msgs_limit=n + 1)
    await nc.flush()
    with measure() as timing:
        for first in range(0, n, BATCH):
            for i in range(first, min(first + BATCH, n)):
                await nc.publish(subject, orjson.dumps({**RECORD, "seq": i}))
            await nc.flush()
        await asyncio.wait_for(done.wait(), 120)
    await nc.close()
    return timing


def nats_core(n: int) -> dict[str, Any]:
    from conduix import Pipeline

    def conduix(round_: int) -> Timing:
        subject = _name("corec")
        consumer = Pipeline.from_dict({
            "settings": {"batch_size": BATCH},
            "sources": {"in": {"type": "nats", "servers": NATS_URL, "subjects": subject, "max_in_flight": n}},
            "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}).start(
                state_dir=tempfile.mkdtemp(prefix="conduix-bench-"))
        while not consumer.nodes["in"].opened.is_set():  # type: ignore[attr-defined]
            time.sleep(0.01)
        producer = _build({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                           "sinks": {"out": {"type": "nats", "inputs": ["gen"], "servers": NATS_URL,
                                             "subject": subject}}})
        with measure() as timing:
            _run(producer, "out", n)
            while consumer.stats()["out"].records_out < n and not consumer.done:
                time.sleep(0.005)
        consumer.stop()
        consumer.join(60)
        return timing

    best = alternating({"conduix": conduix, "baseline": lambda _: asyncio.run(_core_baseline(n, _name("coreb")))},
                       ROUNDS)
    return result("nats_core_round_trip", n, best["conduix"], best["baseline"], rounds=ROUNDS)


# -- AMQP ----------------------------------------------------------------------------------
async def _amqp_queue(queue: str, delete: bool = False) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        if delete:
            await channel.queue_delete(queue)
        else:
            await channel.declare_queue(queue, durable=True)


async def _amqp_baseline(n: int, queue: str) -> Timing:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    with measure() as timing:
        await _amqp_work(n, queue, connection)
    return timing


async def _amqp_work(n: int, queue: str, connection: Any) -> None:
    import aio_pika

    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for first in range(0, n, BATCH):
            messages = [aio_pika.Message(orjson.dumps({**RECORD, "seq": i}),
                                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                        for i in range(first, min(first + BATCH, n))]
            await asyncio.gather(*(channel.default_exchange.publish(m, routing_key=queue) for m in messages))
        await channel.set_qos(prefetch_count=BATCH)
        q = await channel.get_queue(queue)
        got = 0
        async with q.iterator() as it:
            async for message in it:
                orjson.loads(message.body)
                got += 1
                if got % BATCH == 0 or got >= n:  # one acknowledgement for the batch, as Conduix does
                    await message.ack(multiple=True)
                if got >= n:
                    break


def amqp(n: int) -> dict[str, Any]:
    def baseline(round_: int) -> Timing:
        queue = _name("benchb")
        asyncio.run(_amqp_queue(queue))
        try:
            return asyncio.run(_amqp_baseline(n, queue))
        finally:
            asyncio.run(_amqp_queue(queue, delete=True))

    def conduix(round_: int) -> Timing:
        queue = _name("benchc")
        asyncio.run(_amqp_queue(queue))
        try:
            return _timed_runs(
                ({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                  "sinks": {"out": {"type": "amqp", "inputs": ["gen"], "url": AMQP_URL, "routing_key": queue}}},
                 "out"),
                ({"sources": {"in": {"type": "amqp", "url": AMQP_URL, "queue": queue, "prefetch": BATCH}},
                  "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}, "out"), n=n)
        finally:
            asyncio.run(_amqp_queue(queue, delete=True))

    best = alternating({"conduix": conduix, "baseline": baseline}, ROUNDS)
    return result("amqp_round_trip", n, best["conduix"], best["baseline"], rounds=ROUNDS)


def run(n: int = N) -> list[dict[str, Any]]:
    return [nats_core(n), nats_jetstream(n), amqp(n)]
