"""Registers the ``nats`` and ``amqp`` sources and sinks by name; imports no client library."""

from __future__ import annotations

from conduix.connector import ComponentRegistry, hookimpl


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    registry.add_source("nats", "conduix_messaging.nats.source:NatsSource")
    registry.add_sink("nats", "conduix_messaging.nats.sink:NatsSink")
    registry.add_source("amqp", "conduix_messaging.amqp.source:AmqpSource")
    registry.add_sink("amqp", "conduix_messaging.amqp.sink:AmqpSink")
