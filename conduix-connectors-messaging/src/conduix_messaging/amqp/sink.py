"""``amqp`` sink: persistent messages to an exchange with a routing-key template, publisher confirms,
and mandatory publishing so that unroutable messages are reported instead of silently lost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import Field

from conduix.connector import Access, Context, Sink, Template, TemplateText
from conduix_messaging._client import PublishingSink, outcomes
from conduix_messaging._common import PayloadFormat, encode_record
from conduix_messaging.amqp._connection import AmqpConnectionConfig, connect, declare_exchange, is_transient

__all__ = ["AmqpSink", "AmqpSinkConfig"]

logger = logging.getLogger(__name__)


class AmqpSinkConfig(AmqpConnectionConfig):
    exchange: str = Field("", description="Exchange to publish to; '' is the default exchange, which routes "
                          "by queue name.")
    routing_key: TemplateText = Field(..., description="Routing key, a template: '{{ field }}' is filled from "
                                      "each record (orders.{{ region }}).")
    persistent: bool = Field(True, description="delivery_mode 2: durable queues keep the message on disk.")
    mandatory: bool = Field(True, description="Unroutable messages come back and go to the error policy "
                            "instead of being dropped by the broker.")
    format: PayloadFormat = Field("json", description="'json': the record as JSON; 'text'/'bytes': 'field'.")
    field: str = Field("message", description="The record field sent with format text/bytes.")
    headers: dict[str, TemplateText] = Field(default_factory=dict,
                                             description="Headers on every message (templates).")
    message_id: TemplateText | None = Field(None, description="Template of the message_id property ('{{ id }}').")
    confirm_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the confirms of one batch.")


class AmqpSink(PublishingSink, Sink[AmqpSinkConfig]):
    """Publishes each record as one message; a batch is written once the broker confirmed every message."""

    Config = AmqpSinkConfig
    protocol = "amqp"
    is_transient = staticmethod(is_transient)

    @classmethod
    def access(cls, config: AmqpSinkConfig) -> Access:
        return config.access()

    def __init__(self, config: AmqpSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self.routing_key = Template(config.routing_key, option="routing_key")
        self.header_templates = {k: Template(v, option=f"headers.{k}") for k, v in config.headers.items()}
        self.message_id = Template(config.message_id, option="message_id") if config.message_id else None
        self._content_type = "application/json" if config.format == "json" else (
            "text/plain" if config.format == "text" else "application/octet-stream")
        self._connection: Any = None
        self._exchange: Any = None
        self._mode: Any = None

    async def _connect(self) -> None:
        import aio_pika

        cfg = self.config
        self._mode = aio_pika.DeliveryMode.PERSISTENT if cfg.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
        self._connection = await connect(cfg, self.id, lambda: self._closing)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=cfg.mandatory)
        for exchange in cfg.declare_exchanges:
            await declare_exchange(channel, exchange)
        self._exchange = (channel.default_exchange if not cfg.exchange
                          else await channel.get_exchange(cfg.exchange, ensure=True))

    async def _disconnect(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    def _message(self, record: dict[str, Any], traced: dict[str, str]) -> tuple[str, Any]:
        import aio_pika

        cfg = self.config
        headers: dict[str, Any] | None = {
            **{k: t.render(record) for k, t in self.header_templates.items()}, **traced} or None
        message = aio_pika.Message(encode_record(record, cfg.format, cfg.field), delivery_mode=self._mode,
                                   content_type=self._content_type, headers=headers,
                                   message_id=self.message_id.render(record) if self.message_id is not None else None)
        return self.routing_key.render(record), message

    def _publish_timeout(self) -> float:
        return self.config.confirm_timeout

    async def _publish(self, messages: list[tuple[int, Any]], done: set[int]) -> list[tuple[int, BaseException]]:
        exchange = self._exchange
        mandatory = self.config.mandatory
        timeout = self.config.confirm_timeout
        # no per-message timeout (it costs a timer each): the wait below bounds the whole batch
        tasks = [asyncio.ensure_future(exchange.publish(message, routing_key=key, mandatory=mandatory))
                 for _, (key, message) in messages]
        return await outcomes(messages, tasks, timeout, done)

    def _describe(self, error: BaseException) -> str:
        import aiormq.exceptions

        if isinstance(error, aiormq.exceptions.PublishError) and error.message is not None:
            return (f"unroutable: exchange {self.config.exchange or '(default)'!r} has no queue bound for routing "
                    f"key {error.message.routing_key!r}")
        return f"{type(error).__name__}: {error}"
