"""confluent-kafka import with an install hint, and how its errors map onto Conduix's."""

from __future__ import annotations

import logging
import time
from typing import Any

from conduix.connector import ConnectorError

__all__ = ["client_logger", "kafka", "kafka_error", "log_client_error", "permanent_codes", "retriable"]

logger = logging.getLogger("conduix_kafka")
client_logger = logging.getLogger("conduix_kafka.librdkafka")
"""librdkafka's own log lines (fatal errors, protocol trouble) go here instead of stderr."""


def _not_a_connection_failure(record: logging.LogRecord) -> bool:
    """librdkafka logs each failed connection attempt as ``FAIL ...``; ``error_cb`` reports it too, throttled."""
    return not record.getMessage().startswith("FAIL ")


client_logger.addFilter(_not_a_connection_failure)

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


#: a connection problem of a component is logged at most once per this many seconds (librdkafka retries an
#: unreachable broker about every 50 ms and reports each attempt)
REPEAT_EVERY = 30.0
_repeats: dict[tuple[str, int], list[float]] = {}  # (component, error code) -> [last logged at, held back since]
monotonic = time.monotonic


def log_client_error(component: str, error: Any) -> None:
    """librdkafka's ``error_cb``: connection problems are reported here and retried by librdkafka."""
    code = error.code()
    if code in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
        now = monotonic()
        seen = _repeats.setdefault((component, code), [-REPEAT_EVERY, 0])
        if now - seen[0] < REPEAT_EVERY:
            seen[1] += 1
            return
        held, seen[:] = seen[1], [now, 0]
        more = f"; {int(held):,} more like it since the last report" if held else ""
        logger.warning("kafka %r: %s (librdkafka reconnects%s)", component, error.str(), more)
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
