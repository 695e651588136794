"""The 'other side' of the NATS tests: a plain nats-py client."""

from __future__ import annotations

from typing import Any

import nats
import orjson
from nats.js.api import StreamConfig


async def publish(url: str, messages: list[tuple[str, bytes]], *, stream: bool = False) -> None:
    nc = await nats.connect(url)
    try:
        if stream:
            js = nc.jetstream()
            for subject, data in messages:
                await js.publish(subject, data)
        else:
            for subject, data in messages:
                await nc.publish(subject, data)
            await nc.flush()
    finally:
        await nc.close()


async def add_stream(url: str, name: str, subjects: list[str]) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(StreamConfig(name=name, subjects=subjects))
    finally:
        await nc.close()


async def stream_messages(url: str, name: str) -> list[Any]:
    """Every message of a stream, oldest first."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(name)
        if not info.state.messages:  # empty: first_seq and last_seq are 0, and there is no message 0 to get
            return []
        return [await js.get_msg(name, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


async def stream_records(url: str, name: str) -> list[dict[str, Any]]:
    """Every message of a stream, oldest first, as JSON records."""
    return [orjson.loads(msg.data) for msg in await stream_messages(url, name)]


async def consumer_state(url: str, stream: str, durable: str) -> tuple[int, int]:
    """(messages not yet delivered, messages delivered but not acknowledged)."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


async def stream_exists(url: str, name: str) -> bool:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().stream_info(name)
        return True
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()
