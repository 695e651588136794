"""confluent-kafka import with an install hint, and how its errors map onto Conduix's."""

from __future__ import annotations

import logging
from typing import Any

from conduix.connector import ConnectorError

__all__ = ["client_logger", "kafka", "kafka_error", "log_client_error", "permanent_codes", "retriable"]

logger = logging.getLogger("conduix_kafka")
client_logger = logging.getLogger("conduix_kafka.librdkafka")
"""librdkafka's own log lines (connection failures, fatal errors) go here instead of stderr."""

try:
    import confluent_kafka as kafka
except ImportError as exc:  # pragma: no cover - the package depends on it
    raise ConnectorError("the kafka components need confluent-kafka: pip install 'confluent-kafka>=2.4,<3' "
                         f"(or reinstall conduix-connectors-kafka): {exc}") from exc

KafkaError = kafka.KafkaError


def permanent_codes() -> frozenset[int]:
    """Error codes that a retry cannot fix: the record (or the permission) is wrong."""
    return frozenset({
        KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TOPIC_EXCEPTION, KafkaError._INVALID_ARG,
    })


_PERMANENT = permanent_codes()


def retriable(error: Any) -> bool:
    """True unless the error is one a retry cannot fix (oversized, invalid, not authorised)."""
    return error.code() not in _PERMANENT


def log_client_error(component: str, error: Any) -> None:
    """librdkafka's ``error_cb``: connection problems are reported here and retried by librdkafka."""
    if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
        logger.warning("kafka %r: %s (librdkafka reconnects with backoff)", component, error.str())
    elif error.fatal():
        logger.error("kafka %r: fatal client error: %s", component, error.str())
    else:
        logger.warning("kafka %r: %s", component, error.str())


def kafka_error(exc: BaseException) -> Any:
    """The ``KafkaError`` behind ``exc``, or None. A fatal error raised inside confluent-kafka's callback
    dispatch can arrive as a ``SystemError`` whose cause is the ``KafkaException``."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        if isinstance(candidate, kafka.KafkaException):
            return candidate.args[0]
    return None
