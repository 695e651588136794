"""Conduix Kafka connectors: the ``kafka`` source and sink, on confluent-kafka.

The names below are imported on first use (``conduix_kafka.KafkaSource``), so importing this package, as
the plugin entry point does, loads neither the client library nor the pydantic config models: a pipeline
without Kafka pays nothing for them at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conduix_kafka._config import KafkaSinkConfig, KafkaSourceConfig
    from conduix_kafka.sink import KafkaSink
    from conduix_kafka.source import KafkaSource

__all__ = ["KafkaSink", "KafkaSinkConfig", "KafkaSource", "KafkaSourceConfig"]

_MODULES = {"KafkaSource": "source", "KafkaSink": "sink", "KafkaSourceConfig": "_config",
            "KafkaSinkConfig": "_config"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'conduix_kafka' has no attribute {name!r}")
    return getattr(importlib.import_module(f"conduix_kafka.{module}"), name)
