"""NATS source and sink (nats-py, imported only when a component connects)."""

from __future__ import annotations

from conduix_messaging.nats.sink import JetStreamSinkConfig, NatsSink, NatsSinkConfig
from conduix_messaging.nats.source import JetStreamSourceConfig, NatsSource, NatsSourceConfig

__all__ = ["JetStreamSinkConfig", "JetStreamSourceConfig", "NatsSink", "NatsSinkConfig", "NatsSource",
           "NatsSourceConfig"]
