"""Conduix connectors for NATS (core and JetStream) and AMQP 0-9-1 (RabbitMQ).

The components are registered by the ``messaging`` entry point (``conduix_messaging.plugin``)
and imported only when a pipeline uses them: ``type: nats`` / ``type: amqp``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
