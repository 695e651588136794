"""Registers the Kafka components by name; imports no client library (``conduix plugins`` stays fast)."""

from __future__ import annotations

from conduix.connector import ComponentRegistry, hookimpl


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    """The ``kafka`` source, stage and sink."""
    registry.add_source("kafka", "conduix_kafka.source:KafkaSource")
    registry.add_stage("kafka", "conduix_kafka.stage:KafkaStage")
    registry.add_sink("kafka", "conduix_kafka.sink:KafkaSink")
