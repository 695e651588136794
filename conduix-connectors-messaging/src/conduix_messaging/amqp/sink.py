"""``amqp`` sink: persistent messages to an exchange with a routing-key template, publisher confirms,
and mandatory publishing so that unroutable messages are reported instead of silently lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import Field

from conduix.components import Batch, Context, Rejected, Sink
from conduix.errors import RetryableError
from conduix.observability.tracing import trace_headers
from conduix_messaging._common import PayloadFormat, Template, encode_record
from conduix_messaging._loop import LoopThread
from conduix_messaging.amqp._connection import AmqpConnectionConfig, connect, declare_exchange, is_transient

__all__ = ["AmqpSink", "AmqpSinkConfig"]

logger = logging.getLogger(__name__)


class AmqpSinkConfig(AmqpConnectionConfig):
    exchange: str = Field("", description="Exchange to publish to; '' is the default exchange, which routes "
                          "by queue name.")
    routing_key: str = Field(..., description="Routing key; '{field}' is filled from each record "
                             "(orders.{region}).")
    persistent: bool = Field(True, description="delivery_mode 2: durable queues keep the message on disk.")
    mandatory: bool = Field(True, description="Unroutable messages come back and go to the error policy "
                            "instead of being dropped by the broker.")
    format: PayloadFormat = Field("json", description="'json': the record as JSON; 'text'/'bytes': 'field'.")
    field: str = Field("message", description="The record field sent with format text/bytes.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers on every message (templates).")
    message_id: str | None = Field(None, description="Template of the message_id property ('{id}').")
    confirm_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the confirms of one batch.")


class AmqpSink(Sink[AmqpSinkConfig]):
    """Publishes each record as one message; a batch is written once the broker confirmed every message."""

    Config = AmqpSinkConfig

    def __init__(self, config: AmqpSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self.routing_key = Template(config.routing_key, what="routing_key")
        self.header_templates = {k: Template(v, what=f"header {k!r}") for k, v in config.headers.items()}
        self.message_id = Template(config.message_id, what="message_id") if config.message_id else None
        self._content_type = "application/json" if config.format == "json" else (
            "text/plain" if config.format == "text" else "application/octet-stream")
        self._loop: LoopThread | None = None
        self._closing = False
        self._connection: Any = None
        self._exchange: Any = None
        self._resume: tuple[Batch, set[int]] | None = None

    def open(self) -> None:
        self._loop = LoopThread(f"conduix-amqp-{self.id}").start()
        try:
            self._loop.run(self._open())
        except BaseException:
            self.close()  # the runtime does not close a component whose open() failed: stop the loop here
            raise

    async def _open(self) -> None:
        cfg = self.config
        self._connection = await connect(cfg, self.id, lambda: self._closing)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=cfg.mandatory)
        for exchange in cfg.declare_exchanges:
            await declare_exchange(channel, exchange)
        self._exchange = (channel.default_exchange if not cfg.exchange
                          else await channel.get_exchange(cfg.exchange, ensure=True))

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self._closing = True
        connection = self._connection
        loop.shut_down(connection.close if connection is not None else None, f"amqp sink {self.id!r}")
        self._loop = None

    def write(self, batch: Batch) -> list[Rejected] | None:
        assert self._loop is not None
        # a retried batch resumes: what the broker already confirmed is not published again
        done = self._resume[1] if self._resume is not None and self._resume[0] is batch else set()
        messages, rejected = self._messages(batch, done)
        try:
            failed = self._loop.run(self._publish(messages, done), timeout=self.config.confirm_timeout + 10) \
                if messages else []
        except Exception as exc:
            self._resume = (batch, done)
            if is_transient(exc):
                raise RetryableError(f"amqp sink {self.id!r}: {type(exc).__name__}: {exc}") from exc
            raise
        retry: list[BaseException] = []
        for index, error in failed:
            if is_transient(error):
                retry.append(error)
            else:
                rejected.append(Rejected(_describe(error, self.config.exchange), index=index))
                done.add(index)
        if retry:
            self._resume = (batch, done)
            raise RetryableError(f"amqp sink {self.id!r}: {len(retry)} of {len(messages)} message(s) not "
                                 f"confirmed ({type(retry[0]).__name__}: {retry[0]})")
        self._resume = None
        return rejected or None

    def _messages(self, batch: Batch, done: set[int]) -> tuple[list[tuple[int, str, Any]], list[Rejected]]:
        import aio_pika

        cfg = self.config
        mode = aio_pika.DeliveryMode.PERSISTENT if cfg.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
        out: list[tuple[int, str, Any]] = []
        rejected: list[Rejected] = []
        traced = trace_headers(batch)  # W3C trace context: the next pipeline continues the trace
        for index, record in enumerate(batch.records):
            if index in done:
                continue
            try:
                key = self.routing_key.render(record)
                body = encode_record(record, cfg.format, cfg.field)
                headers: dict[str, Any] | None = {
                    **{k: t.render(record) for k, t in self.header_templates.items()}, **traced} or None
                msg_id = self.message_id.render(record) if self.message_id is not None else None
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(Rejected(f"cannot build the message: {exc}", index=index))
                done.add(index)
                continue
            out.append((index, key, aio_pika.Message(body, delivery_mode=mode, content_type=self._content_type,
                                                     headers=headers, message_id=msg_id)))
        return out, rejected

    async def _publish(self, messages: list[tuple[int, str, Any]], done: set[int]) -> list[tuple[int, BaseException]]:
        exchange = self._exchange
        mandatory = self.config.mandatory
        timeout = self.config.confirm_timeout
        # no per-message timeout (it costs a timer each): the wait below bounds the whole batch
        tasks = [asyncio.ensure_future(exchange.publish(message, routing_key=key, mandatory=mandatory))
                 for _, key, message in messages]
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)  # cancelled for good before they are looked at
        failed: list[tuple[int, BaseException]] = []
        for (index, _, _), task in zip(messages, tasks):
            if task.cancelled():
                failed.append((index, TimeoutError(f"no confirm within {timeout}s")))
            elif task.exception() is not None:
                failed.append((index, task.exception()))
            else:
                done.add(index)
        return failed


def _describe(exc: BaseException, exchange: str) -> str:
    import aiormq.exceptions

    if isinstance(exc, aiormq.exceptions.PublishError) and exc.message is not None:
        return (f"unroutable: exchange {exchange or '(default)'!r} has no queue bound for routing key "
                f"{exc.message.routing_key!r}")
    return f"{type(exc).__name__}: {exc}"
