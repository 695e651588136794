"""``kafka`` stage: produces each batch like the sink, then passes the delivered records on."""

from __future__ import annotations

from conduix.connector import SinkStage
from conduix_kafka.sink import KafkaSink

__all__ = ["KafkaStage"]


class KafkaStage(SinkStage):
    """The ``KafkaStage`` of the original README (a cross-pipeline boundary inside a chain): produces like the
    ``kafka`` sink (same options), then passes on the records Kafka acknowledged. Not under
    ``delivery: exactly_once``: a transaction would commit the input offsets before the components after the
    stage wrote the records."""

    sink_class = KafkaSink
    exactly_once = False
