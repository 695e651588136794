"""The 'other side' of the AMQP tests: a plain aio-pika client."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import orjson


async def declare(url: str, queue: str, **arguments: Any) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True, arguments=arguments or None)


async def publish(url: str, queue: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue)


async def count(url: str, queue: str) -> int:
    """Messages ready in the queue (unacknowledged deliveries of open channels are not counted)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)


async def drain(url: str, queue: str) -> list[tuple[dict[str, Any], Any]]:
    """Take every message out of the queue: (record, message) pairs."""
    out: list[tuple[dict[str, Any], Any]] = []
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        while True:
            message = await q.get(fail=False, no_ack=True)
            if message is None:
                break
            out.append((orjson.loads(message.body), message))
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def delete(url: str, *, queues: tuple[str, ...] = (), exchanges: tuple[str, ...] = ()) -> None:
    """Remove what a test declared on the shared broker."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
