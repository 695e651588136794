"""NATS (core and JetStream) and AMQP round trips: publish N records, consume them back.

Conduix: ``generate -> nats|amqp sink`` (waiting for the server's acks/confirms), then
``nats|amqp source -> blackhole`` (acking after the sink). Baseline: a plain nats-py / aio-pika
loop doing the same work in the same process: publish in batches of 1,000 awaiting every ack or
confirm (core NATS: a flush), then fetch/consume with the same window and ack every message (core
NATS: the consumer runs while the producer publishes). Issue 8's target: a ratio
of at least 0.7. Needs the NATS (JetStream) and RabbitMQ servers of TESTING.md.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import orjson

N = int(os.environ.get("CONDUIX_BENCH_MESSAGING_N", "100000"))
BATCH = 1000
NATS_URL = os.environ.get("CONDUIX_TEST_NATS", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("CONDUIX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
RECORD = {"user": "ada", "level": "info", "bytes": 512, "path": "/api/orders"}


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _run_until(pipeline: dict[str, Any], sink: str, n: int) -> float:
    """Run a (possibly endless) pipeline until ``sink`` received ``n`` records; seconds taken."""
    from conduix import Pipeline

    p = Pipeline.from_dict({"settings": {"batch_size": BATCH}, **pipeline})
    start = time.perf_counter()
    run = p.start(state_dir=tempfile.mkdtemp(prefix="conduix-bench-"))
    while run.stats()[sink].records_in < n and not run.done:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    run.stop()
    run.join(60)
    if run.error is not None:
        raise RuntimeError(f"benchmark pipeline failed: {run.error}")
    return elapsed


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


async def _js_baseline(n: int, stream: str, subject: str) -> float:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    await nc.close()
    return elapsed


def nats_jetstream(n: int) -> dict[str, Any]:
    base_stream, base_subject = _name("BENCHB"), _name("benchb")
    ours_stream, ours_subject = _name("BENCHC"), _name("benchc")
    asyncio.run(_js_setup(base_stream, base_subject))
    asyncio.run(_js_setup(ours_stream, ours_subject))
    try:
        base = asyncio.run(_js_baseline(n, base_stream, base_subject))
        ours = _run_until({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                           "sinks": {"out": {"type": "nats", "inputs": ["gen"], "servers": NATS_URL,
                                             "subject": ours_subject, "jetstream": {}}}}, "out", n)
        ours += _run_until({"sources": {"in": {"type": "nats", "servers": NATS_URL, "subjects": ours_subject,
                                               "jetstream": {"stream": ours_stream, "durable": "conduix"}}},
                            "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}, "out", n)
    finally:
        asyncio.run(_js_delete(base_stream))
        asyncio.run(_js_delete(ours_stream))
    return {"name": "nats_jetstream_round_trip", "conduix_rps": n / ours, "baseline_rps": n / base,
            "ratio": base / ours, "records": n}


# -- core NATS -------------------------------------------------------------------------------
async def _core_baseline(n: int, subject: str) -> float:
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
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        for i in range(first, min(first + BATCH, n)):
            await nc.publish(subject, orjson.dumps({**RECORD, "seq": i}))
        await nc.flush()
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - start
    await nc.close()
    return elapsed


def nats_core(n: int) -> dict[str, Any]:
    from conduix import Pipeline

    base = asyncio.run(_core_baseline(n, _name("coreb")))
    subject = _name("corec")
    consumer = Pipeline.from_dict({
        "settings": {"batch_size": BATCH},
        "sources": {"in": {"type": "nats", "servers": NATS_URL, "subjects": subject, "max_in_flight": n}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}).start(
            state_dir=tempfile.mkdtemp(prefix="conduix-bench-"))
    while not consumer.nodes["in"].opened.is_set():  # type: ignore[attr-defined]
        time.sleep(0.01)
    start = time.perf_counter()
    _run_until({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                "sinks": {"out": {"type": "nats", "inputs": ["gen"], "servers": NATS_URL, "subject": subject}}},
               "out", n)
    while consumer.stats()["out"].records_in < n and not consumer.done:
        time.sleep(0.005)
    ours = time.perf_counter() - start
    consumer.stop()
    consumer.join(60)
    return {"name": "nats_core_round_trip", "conduix_rps": n / ours, "baseline_rps": n / base, "ratio": base / ours,
            "records": n}


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


async def _amqp_baseline(n: int, queue: str) -> float:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    start = time.perf_counter()
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
                await message.ack()
                got += 1
                if got >= n:
                    break
    return time.perf_counter() - start


def amqp(n: int) -> dict[str, Any]:
    base_q, ours_q = _name("benchb"), _name("benchc")
    asyncio.run(_amqp_queue(base_q))
    asyncio.run(_amqp_queue(ours_q))
    try:
        base = asyncio.run(_amqp_baseline(n, base_q))
        ours = _run_until({"sources": {"gen": {"type": "generate", "count": n, "record": RECORD}},
                           "sinks": {"out": {"type": "amqp", "inputs": ["gen"], "url": AMQP_URL,
                                             "routing_key": ours_q}}}, "out", n)
        ours += _run_until({"sources": {"in": {"type": "amqp", "url": AMQP_URL, "queue": ours_q,
                                               "prefetch": BATCH}},
                            "sinks": {"out": {"type": "blackhole", "inputs": ["in"]}}}, "out", n)
    finally:
        asyncio.run(_amqp_queue(base_q, delete=True))
        asyncio.run(_amqp_queue(ours_q, delete=True))
    return {"name": "amqp_round_trip", "conduix_rps": n / ours, "baseline_rps": n / base, "ratio": base / ours,
            "records": n}


def run(n: int = N) -> list[dict[str, Any]]:
    return [nats_core(n), nats_jetstream(n), amqp(n)]
