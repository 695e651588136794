"""A second consumer joins the group mid-stream: partitions move (cooperative-sticky), nothing is lost,
and neither member checkpoints or commits a partition it does not own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker, Ids, checkpointed_offsets, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration("kafka")

N = 10000
PARTITIONS = 4


def member(broker: Broker, name: str, topic: str, group: str) -> dict[str, Any]:
    return {
        "name": name,
        "settings": {"batch_size": 100, "checkpoint": {"interval": 0.5}},
        "sources": {"in": {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
                           "auto_offset_reset": "earliest", "decoding": "json", **FAST_GROUP}},
        "transforms": {"slow": {"type": "python", "inputs": ["in"], "function": "tests.kafka.udfs:slow",
                                "mode": "batch", "options": {"delay": 0.1}}},
        "sinks": {"seen": {"type": "collect", "inputs": ["slow"]}},
    }


def test_second_consumer_joins_mid_stream(broker: Broker, names: Any, tmp_path: Path) -> None:
    topic, group = names("rebalance-in"), names("rebalance-group")
    broker.create_topics(topic, partitions=PARTITIONS)
    ids = Ids(broker, topic)
    ids.produce(N)
    everything = {f"{topic}:{p}" for p in range(PARTITIONS)}

    first = start_pipeline(member(broker, names("member-a"), topic, group), tmp_path / "a")
    second = None
    try:
        eventually(lambda: len(first.nodes["seen"].component.records) >= 1000, timeout=60)
        second = start_pipeline(member(broker, names("member-b"), topic, group), tmp_path / "b")
        ids.until(lambda: len(second.nodes["seen"].component.records) > 0,
                  lambda: len(first.nodes["seen"].component.records), timeout=90,
                  what="the second member never got a partition")

        def split() -> bool:  # each member checkpoints exactly the partitions it owns
            a, b = set(checkpointed_offsets(tmp_path / "a")), set(checkpointed_offsets(tmp_path / "b"))
            return bool(a) and bool(b) and not (a & b) and (a | b) == everything

        eventually(split, timeout=60, what="checkpoints overlap or miss partitions after the rebalance")

        def seen() -> Counter[int]:
            records = list(first.nodes["seen"].component.records) + list(second.nodes["seen"].component.records)
            return Counter(r["id"] for r in records)

        eventually(lambda: set(seen()) == set(range(ids.count)), timeout=120, what="records lost in the rebalance")
    finally:
        stop_pipeline(first)
        if second is not None:
            stop_pipeline(second)

    seen_ids = Counter(r["id"] for run in (first, second) for r in run.result.components["seen"].records)
    assert set(seen_ids) == set(range(ids.count))
    duplicates = sum(seen_ids.values()) - ids.count
    # at most what was in flight for the moved partitions when they were revoked
    assert duplicates <= 6 * 100 * PARTITIONS, duplicates
    ends = Counter()
    for run in (first, second):
        for meta in run.result.components["seen"].meta:
            ends[meta["partition"]] = max(ends[meta["partition"]], meta["offset"] + 1)
    assert broker.committed(group, topic, PARTITIONS) == dict(ends)
