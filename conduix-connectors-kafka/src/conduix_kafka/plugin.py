"""Registers the Kafka components by name; imports no client library (``conduix plugins`` stays fast)."""

from __future__ import annotations

from conduix import hookimpl
from conduix.registry import ComponentRegistry


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    """The ``kafka`` source and the ``kafka`` sink."""
    registry.add_source("kafka", "conduix_kafka.source:KafkaSource")
    registry.add_sink("kafka", "conduix_kafka.sink:KafkaSink")
