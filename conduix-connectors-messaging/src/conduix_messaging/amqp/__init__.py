"""AMQP 0-9-1 source and sink (aio-pika, imported only when a component connects)."""

from __future__ import annotations

from conduix_messaging.amqp.sink import AmqpSink, AmqpSinkConfig
from conduix_messaging.amqp.source import AmqpSource, AmqpSourceConfig, BindingConfig

__all__ = ["AmqpSink", "AmqpSinkConfig", "AmqpSource", "AmqpSourceConfig", "BindingConfig"]
