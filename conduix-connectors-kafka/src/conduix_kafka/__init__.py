"""Conduix Kafka connectors: the ``kafka`` source and sink, on confluent-kafka.

The component classes are imported on first use (``conduix_kafka.KafkaSource``), so importing
this package, as the plugin entry point does, does not load the client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conduix_kafka._config import KafkaSinkConfig, KafkaSourceConfig

if TYPE_CHECKING:
    from conduix_kafka.sink import KafkaSink
    from conduix_kafka.source import KafkaSource

__all__ = ["KafkaSink", "KafkaSinkConfig", "KafkaSource", "KafkaSourceConfig"]


def __getattr__(name: str) -> Any:
    if name == "KafkaSource":
        from conduix_kafka.source import KafkaSource

        return KafkaSource
    if name == "KafkaSink":
        from conduix_kafka.sink import KafkaSink

        return KafkaSink
    raise AttributeError(f"module 'conduix_kafka' has no attribute {name!r}")
