"""``amqp`` source: consumes a RabbitMQ (AMQP 0-9-1) queue with a prefetch window and manual acks.

A delivery is acknowledged only after every sink wrote its record (at-least-once). When the
pipeline stops or fails first, unacknowledged deliveries are rejected: requeued, or (with
``on_failure: dead_letter``) routed to the queue's dead-letter exchange.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import threading
from typing import Any, Literal

from pydantic import Field

from conduix.components import Batch, ComponentConfig, Context, Rejected, Source
from conduix.errors import RetryableError
from conduix_messaging._common import PayloadFormat, decode_payload
from conduix_messaging._loop import Cancelled, LoopThread
from conduix_messaging.amqp._connection import AmqpConnectionConfig, connect, declare_exchange, is_transient

__all__ = ["AmqpSource", "AmqpSourceConfig", "BindingConfig"]

logger = logging.getLogger(__name__)


class BindingConfig(ComponentConfig):
    exchange: str = Field(..., description="Exchange to bind the queue to (declare it in declare_exchanges).")
    routing_key: str = Field("", description="Binding key ('orders.*' on a topic exchange).")


class AmqpSourceConfig(AmqpConnectionConfig):
    queue: str = Field(..., description="Queue to consume.")
    prefetch: int = Field(1000, ge=1, le=65535, description="Deliveries unacknowledged at once (basic.qos); "
                          "bounds what is in flight.")
    declare: bool = Field(False, description="Declare the queue (durable) instead of expecting it to exist.")
    queue_arguments: dict[str, Any] = Field(default_factory=dict, description="x-arguments when declaring, "
                                            "e.g. {x-dead-letter-exchange: dlx, x-queue-type: quorum}.")
    bindings: list[BindingConfig] = Field(default_factory=list, description="Bindings made at connect.")
    format: PayloadFormat = Field("json", description="'json': the body is JSON (a non-object becomes "
                                  "{message: value}; invalid JSON goes to on_error); 'text'/'bytes': the body "
                                  "becomes {message: body}.")
    on_failure: Literal["requeue", "dead_letter"] = Field(
        "requeue", description="What happens to deliveries not acknowledged when the pipeline stops or fails: "
        "'requeue' them, or reject them to the queue's dead-letter exchange.")


class AmqpSource(Source[AmqpSourceConfig]):
    """Reads deliveries in batches; metadata carries exchange, routing_key, delivery_tag, redelivered,
    message_id and headers."""

    Config = AmqpSourceConfig

    def __init__(self, config: AmqpSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._loop: LoopThread | None = None
        self._closing = False
        self._acking: set[concurrent.futures.Future[None]] = set()
        self._ack_lock = threading.Lock()
        self._connection: Any = None
        self._queue: asyncio.Queue[Any] | None = None
        self._pending: dict[int, list[Any]] = {}
        self._order: collections.deque[int] = collections.deque()  # positions in delivery order
        self._written: set[int] = set()  # written, waiting for an earlier batch before being acked
        self._ids = itertools.count()
        self._stopped = False

    def open(self) -> None:
        self._loop = LoopThread(f"conduix-amqp-{self.id}").start()
        try:
            self._loop.run(self._open(), cancel_if=lambda: self._stopped)
        except Cancelled:  # asked to stop while still connecting: nothing was read, nothing to drain
            logger.info("source %r stopped before it could connect", self.id)
            return
        except BaseException:
            self.close()  # the runtime does not close a component whose open() failed: stop the loop here
            raise
        logger.info("amqp source %r consuming queue %r (prefetch %d)", self.id, self.config.queue,
                    self.config.prefetch)

    async def _open(self) -> None:
        cfg = self.config
        self._queue = asyncio.Queue()  # bounded by the prefetch window
        self._connection = await connect(cfg, self.id, lambda: self._closing)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=cfg.prefetch)
        for exchange in cfg.declare_exchanges:
            await declare_exchange(channel, exchange)
        if cfg.declare:
            queue = await channel.declare_queue(cfg.queue, durable=True, arguments=cfg.queue_arguments or None)
        else:
            queue = await channel.declare_queue(cfg.queue, passive=True)
        for binding in cfg.bindings:
            await queue.bind(binding.exchange, routing_key=binding.routing_key)
        await queue.consume(self._on_message, no_ack=False)

    async def _on_message(self, message: Any) -> None:
        assert self._queue is not None
        self._queue.put_nowait(message)

    def stop(self) -> None:
        self._stopped = True

    def read(self, max_records: int) -> Batch | None:
        assert self._loop is not None
        if self._stopped:
            return Batch([])
        try:
            messages = self._loop.run(self._drain(max_records, 0.1), timeout=30)
        except Exception as exc:
            if is_transient(exc):
                raise RetryableError(f"amqp source {self.id!r}: {type(exc).__name__}: {exc}") from exc
            raise
        if not messages:
            return Batch([])
        return self._batch(messages)

    async def _drain(self, wanted: int, wait: float) -> list[Any]:
        queue = self._queue
        assert queue is not None
        messages: list[Any] = []
        if queue.empty():
            try:
                messages.append(await asyncio.wait_for(queue.get(), wait))
            except asyncio.TimeoutError:
                return []
        while len(messages) < wanted and not queue.empty():
            messages.append(queue.get_nowait())
        return messages

    def _batch(self, messages: list[Any]) -> Batch:
        fmt = self.config.format
        source = self.id
        queue_name = self.config.queue
        records: list[dict[str, Any]] = []
        meta: list[dict[str, Any]] = []
        rejects: list[Rejected] = []
        for message in messages:
            m: dict[str, Any] = {"source": source, "queue": queue_name, "exchange": message.exchange,
                                 "routing_key": message.routing_key, "delivery_tag": message.delivery_tag,
                                 "redelivered": bool(message.redelivered),
                                 "position": f"{queue_name}#{message.delivery_tag}"}
            if message.message_id is not None:
                m["message_id"] = message.message_id
            if message.headers:
                m["headers"] = dict(message.headers)
            try:
                records.append(decode_payload(message.body, fmt))
            except ValueError as exc:
                rejects.append(Rejected(str(exc), record={"message": message.body.decode("utf-8", "replace")},
                                        meta=m))
                continue
            meta.append(m)
        position = next(self._ids)
        self._pending[position] = messages
        self._order.append(position)
        return Batch(records, meta, position=position, rejects=rejects or None)

    def _track(self, future: concurrent.futures.Future[None]) -> None:
        with self._ack_lock:
            self._acking.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: concurrent.futures.Future[None]) -> None:
        with self._ack_lock:
            self._acking.discard(future)

    def acknowledge(self, position: Any) -> None:
        if position not in self._pending:
            return
        # acks go out for the longest prefix of batches (in delivery order) that are all written, so one
        # basic.ack(multiple) per channel settles them; a batch written early waits for those before it
        self._written.add(position)
        order = self._order
        ready: list[Any] = []
        while order and order[0] in self._written:
            first = order.popleft()
            self._written.discard(first)
            ready.extend(self._pending.pop(first))
        if ready and self._loop is not None:
            self._track(self._loop.submit(self._ack(ready)))

    async def _ack(self, messages: list[Any]) -> None:
        last: list[Any] = []  # the last delivery of each run of deliveries from one channel
        previous = None
        gone = 0
        for message in messages:
            try:
                channel = message.channel
            except Exception:  # the channel that delivered it is gone: the broker requeued it already
                gone += 1
                continue
            if last and channel is previous:
                last[-1] = message
            else:
                last.append(message)
            previous = channel
        if gone:
            logger.warning("amqp source %r: %d written delivery(ies) came from a channel lost since; the broker "
                           "redelivers them (duplicates, not losses)", self.id, gone)
        for message in last:  # delivery tags grow within a channel: this acks every earlier one too
            try:
                await message.ack(multiple=True)
            except Exception as exc:
                logger.warning("amqp source %r: ack failed (%s: %s); the broker redelivers the deliveries",
                               self.id, type(exc).__name__, exc)

    async def _settle(self, messages: list[Any], *, ack: bool, requeue: bool = True) -> None:
        for message in messages:
            try:
                if ack:
                    await message.ack()
                else:
                    await message.reject(requeue=requeue)
            except Exception as exc:  # the channel that delivered it is gone: the broker requeued it already
                logger.warning("amqp source %r: %s of %d delivery(ies) failed (%s: %s); the broker redelivers "
                               "them", self.id, "ack" if ack else "reject", len(messages), type(exc).__name__, exc)
                return

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._closing = True
        with self._ack_lock:
            acking = list(self._acking)
        concurrent.futures.wait(acking, timeout=10)  # acks go out before the connection closes
        loop.shut_down(self._close, f"amqp source {self.id!r}")
        self._loop = None

    async def _close(self) -> None:
        written = [m for p in sorted(self._written) for m in self._pending.pop(p)]
        if written and self._connection is not None and not self._connection.is_closed:
            await self._settle(written, ack=True)  # written by every sink: acked one by one
        self._written.clear()
        self._order.clear()
        unacked = [m for messages in self._pending.values() for m in messages]
        self._pending.clear()
        unread: list[Any] = []
        if self._queue is not None:  # received but never read: back to the queue, whatever on_failure says
            while not self._queue.empty():
                unread.append(self._queue.get_nowait())
        if self._connection is not None and not self._connection.is_closed:
            if unacked:
                requeue = self.config.on_failure == "requeue"
                logger.info("amqp source %r: rejecting %d unacknowledged delivery(ies) (%s)", self.id,
                            len(unacked), "requeued" if requeue else "to the dead-letter exchange")
                await self._settle(unacked, ack=False, requeue=requeue)
            if unread:
                await self._settle(unread, ack=False, requeue=True)
        if self._connection is not None:
            await self._connection.close()
