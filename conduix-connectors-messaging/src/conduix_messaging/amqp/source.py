"""``amqp`` source: consumes a RabbitMQ (AMQP 0-9-1) queue with a prefetch window and manual acks.

A delivery is acknowledged only after every sink wrote its record (at-least-once). A batch that will not
be written (a component failed on it), and every unacknowledged delivery when the pipeline stops or fails
first, is rejected: requeued, or (with ``on_failure: dead_letter``) routed to the queue's dead-letter
exchange.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from operator import attrgetter
from typing import Any, Literal

from pydantic import Field

from conduix.connector import Access, ComponentConfig, Context, Source
from conduix_messaging._client import MessageSource
from conduix_messaging._common import PayloadFormat
from conduix_messaging.amqp._connection import AmqpConnectionConfig, connect, declare_exchange, is_transient

__all__ = ["AmqpSource", "AmqpSourceConfig", "BindingConfig"]

logger = logging.getLogger(__name__)

#: seconds between two reads of the queue's depth (a passive declare) for the consumer-lag metric
DEPTH_EVERY = 2.0


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
                                  "becomes {message: body} (a 'text' body that is not UTF-8 goes to on_error, its "
                                  "bytes kept in the dead letter).")
    on_failure: Literal["requeue", "dead_letter"] = Field(
        "requeue", description="What happens to deliveries that will not be written (a component failed on "
        "them), and to those not acknowledged when the pipeline stops or fails: 'requeue' them, or reject them "
        "to the queue's dead-letter exchange.")


class AmqpSource(MessageSource, Source[AmqpSourceConfig]):
    """Reads deliveries in batches; metadata carries exchange, routing_key, delivery_tag, redelivered,
    message_id and headers."""

    Config = AmqpSourceConfig
    protocol = "amqp"
    is_transient = staticmethod(is_transient)

    @classmethod
    def access(cls, config: AmqpSourceConfig) -> Access:
        return config.access()

    def __init__(self, config: AmqpSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self._connection: Any = None
        self._queue: asyncio.Queue[Any] | None = None
        self._order: collections.deque[int] = collections.deque()  # positions in delivery order
        self._written: set[int] = set()  # written, waiting for an earlier batch before being acked
        self._channel: Any = None
        self._depth: int | None = None  # messages ready in the queue, as the broker last said
        self._depth_watch: asyncio.Future[None] | None = None

    def _connected(self) -> None:
        logger.info("amqp source %r consuming queue %r (prefetch %d)", self.id, self.config.queue,
                    self.config.prefetch)

    async def _connect(self) -> None:
        cfg = self.config
        self._queue = asyncio.Queue()  # bounded by the prefetch window
        self._connection = await connect(cfg, self.id, lambda: self._closing)
        channel = self._channel = await self._connection.channel()
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
        self._depth_watch = asyncio.ensure_future(self._watch_depth())

    async def _on_message(self, message: Any) -> None:
        assert self._queue is not None
        self._queue.put_nowait(message)

    # -- reading -------------------------------------------------------------------------
    async def _receive(self, wanted: int) -> list[Any]:
        queue = self._queue
        assert queue is not None
        messages: list[Any] = []
        if queue.empty():
            try:
                messages.append(await asyncio.wait_for(queue.get(), 0.1))
            except asyncio.TimeoutError:
                return []
        while len(messages) < wanted and not queue.empty():
            messages.append(queue.get_nowait())
        return messages

    async def _watch_depth(self) -> None:
        """The queue's ready messages every ``DEPTH_EVERY`` seconds, from a passive declare (the broker's own
        count), whether or not the pipeline is reading (held by backpressure, the queue still grows)."""
        while True:
            try:  # on the underlying channel: aio-pika's robust channel answers from its cache
                channel = await self._channel.get_underlay_channel()
                declared = await channel.queue_declare(self.config.queue, passive=True)
                self._depth = int(declared.message_count or 0)
            except Exception as exc:  # a failed measurement must not fail the run: the metric goes stale
                logger.debug("amqp source %r: queue depth not read: %s", self.id, exc)
            await asyncio.sleep(DEPTH_EVERY)

    def lag(self) -> dict[str, int] | None:
        """Messages in the queue not yet acknowledged by this source: ready (as the broker said at most
        ``DEPTH_EVERY`` seconds ago) plus delivered to us and unacknowledged, whether already in a batch or
        still in the prefetch buffer, keyed by queue."""
        if self._depth is None:
            return None
        with self._pending_lock:
            unacked = sum(len(m) for m in self._pending.values())
        buffered = self._queue.qsize() if self._queue is not None else 0
        return {self.config.queue: self._depth + unacked + buffered}

    def _meta(self, message: Any) -> dict[str, Any]:
        queue_name = self.config.queue
        m: dict[str, Any] = {"source": self.id, "queue": queue_name, "exchange": message.exchange,
                             "routing_key": message.routing_key, "delivery_tag": message.delivery_tag,
                             "redelivered": bool(message.redelivered),
                             "position": f"{queue_name}#{message.delivery_tag}"}
        if message.message_id is not None:
            m["message_id"] = message.message_id
        if message.headers:
            m["headers"] = dict(message.headers)
        return m

    _body = attrgetter("body")

    def _keeps(self, messages: list[Any]) -> bool:
        return True

    def _batch(self, messages: list[Any]) -> Any:
        batch = super()._batch(messages)
        self._order.append(batch.position)
        return batch

    # -- acknowledgement -----------------------------------------------------------------
    def acknowledge(self, position: Any) -> None:
        if position not in self._pending:
            return
        # acks go out for the longest prefix of batches (in delivery order) that are all written, so one
        # basic.ack(multiple) per channel settles them; a batch written early waits for those before it
        self._written.add(position)
        ready = self._ready()
        if ready:
            self.settle(self._ack(ready))

    def nack(self, position: Any, error: BaseException | str) -> None:
        """A batch that will not be written goes where ``on_failure`` says now; the batches written after it
        that waited for it are acknowledged right after (in that order: a multiple ack never covers it)."""
        messages = self._take_pending(position)
        if messages is None:
            return
        self._order.remove(position)
        requeue = self.config.on_failure == "requeue"
        logger.info("amqp source %r: rejecting %d delivery(ies) not written (%s): %s", self.id, len(messages),
                    "requeued" if requeue else "to the dead-letter exchange", error)
        self.settle(self._reject_then_ack(messages, requeue, self._ready()))

    def _ready(self) -> list[Any]:
        """The deliveries of the written batches at the head of the delivery order, taken out of pending."""
        order = self._order
        ready: list[Any] = []
        while order and order[0] in self._written:
            first = order.popleft()
            self._written.discard(first)
            ready.extend(self._take_pending(first) or ())
        return ready

    async def _reject_then_ack(self, rejected: list[Any], requeue: bool, ready: list[Any]) -> None:
        await self._settle(rejected, ack=False, requeue=requeue)
        if ready:
            await self._ack(ready)

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

    async def _disconnect(self) -> None:
        if self._depth_watch is not None:
            self._depth_watch.cancel()
        written = [m for p in sorted(self._written) for m in self._take_pending(p) or ()]
        if written and self._connection is not None and not self._connection.is_closed:
            await self._settle(written, ack=True)  # written by every sink: acked one by one
        self._written.clear()
        self._order.clear()
        unacked = self._all_pending()
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
