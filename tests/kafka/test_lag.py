"""The Kafka source's consumer lag (``Source.lag``): per partition, the high watermark minus the acknowledged
offset, so records read but not yet written still count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration("kafka")


def pipeline(broker: Broker, topic: str, group: str, *, hold: bool) -> dict[str, Any]:
    """``hold``: an hour-long window keeps every batch unacknowledged."""
    stages = {"hourly": {"type": "aggregate", "inputs": ["in"], "window": {"type": "tumbling", "size": "1h"},
                         "aggregations": {"n": {"type": "count"}}}} if hold else {}
    return {"name": group, "settings": {"batch_size": 100, "checkpoint": {"interval": 0.3}},
            "sources": {"in": {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
                               "auto_offset_reset": "earliest", **FAST_GROUP}},
            "transforms": stages,
            "sinks": {"out": {"type": "blackhole", "inputs": ["hourly" if hold else "in"]}}}


def test_lag_counts_unacknowledged_records_per_partition_and_falls_to_zero_once_written(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    topic = names("lag")
    broker.create_topics(topic, partitions=2)
    broker.produce(topic, ({"seq": i} for i in range(600)), key=str)  # many keys: both partitions
    held = start_pipeline(pipeline(broker, topic, names("held"), hold=True), tmp_path / "held")
    try:
        lag = eventually(lambda: (lag := held.nodes["in"].lag()) and sum(lag.values()) == 600 and lag, timeout=60,
                         what="every record counted as lag while none is acknowledged")
        assert set(lag) == {f"{topic}:0", f"{topic}:1"} and all(v > 0 for v in lag.values())
        # all read, still all lag: what counts is where a restart would resume
        eventually(lambda: held.nodes["in"].stats.records_out == 600, timeout=60, what="every record read")
        assert sum(held.nodes["in"].lag().values()) == 600
    finally:
        stop_pipeline(held)
    flowing = start_pipeline(pipeline(broker, topic, names("flowing"), hold=False), tmp_path / "flowing")
    try:
        eventually(lambda: (lag := flowing.nodes["in"].lag()) and len(lag) == 2 and sum(lag.values()) == 0,
                   timeout=60, what="no lag once every record is written")
    finally:
        stop_pipeline(flowing)
