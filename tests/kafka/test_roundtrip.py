"""Kafka -> remap -> Kafka round trips: every record, per-partition order, metadata, acked offsets only."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker, checkpointed_offsets, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration("kafka")

N = 3000
KEYS = 10


def source(broker: Broker, topic: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
            "auto_offset_reset": "earliest", "decoding": "json", **FAST_GROUP, **extra}


def produce_keyed(broker: Broker, topic: str, n: int = N) -> None:
    # record i has key k = i % KEYS and per-key sequence i // KEYS: one key lives in one partition
    broker.produce(topic, ({"id": i, "k": i % KEYS, "seq": i // KEYS} for i in range(n)),
                   key=lambda i: f"k{i % KEYS}")


def assert_per_key_order(values: list[dict[str, Any]]) -> None:
    by_key: dict[int, list[int]] = defaultdict(list)
    for value in values:
        by_key[value["k"]].append(value["seq"])
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"key {key} out of order"


def test_round_trip_in_process_keeps_order_metadata_and_commits_acked_offsets(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    src, dst, group = names("rt-in"), names("rt-out"), names("rt-group")
    broker.create_topics(src, dst)
    produce_keyed(broker, src)
    run = start_pipeline({
        "name": names("roundtrip"),
        "settings": {"batch_size": 250, "checkpoint": {"interval": 0.5}},
        "sources": {"in": source(broker, src, group)},
        "transforms": {"shape": {"type": "remap", "inputs": ["in"],
                                 "source": ".routed = true\n.from_partition = %partition"}},
        "sinks": {
            "out": {"type": "kafka", "inputs": ["shape"], "brokers": broker.bootstrap, "topic": dst,
                    "key": "{{ @meta.key }}", "headers": {"origin": "{{ %topic }}"}},
            "seen": {"type": "collect", "inputs": ["shape"]},
        },
    }, tmp_path / "state")
    try:
        eventually(lambda: len(run.nodes["seen"].component.records) >= N, timeout=90, what="records not read")
    finally:
        stop_pipeline(run)

    out = broker.read_all(dst, expect=N)
    values = [json.loads(m.value()) for m in out]
    assert sorted(v["id"] for v in values) == list(range(N))
    assert all(v["routed"] is True for v in values)
    assert_per_key_order(values)
    for message in out:  # the key template kept the key, so each key's partition order survived
        assert message.key() == f"k{json.loads(message.value())['k']}".encode()
        assert dict(message.headers()) == {"origin": src.encode()}

    seen = run.result.components["seen"]
    meta = seen.meta[0]
    assert set(meta) >= {"source", "topic", "partition", "offset", "key", "headers", "timestamp"}
    assert meta["topic"] == src and meta["timestamp"] > 0
    assert all(r["from_partition"] == m["partition"] for r, m in zip(seen.records, seen.meta))

    # only acknowledged offsets: everything was written, so they sit at each partition's end
    ends: dict[int, int] = defaultdict(int)
    for m in seen.meta:
        ends[m["partition"]] = max(ends[m["partition"]], m["offset"] + 1)
    state = json.loads(next((tmp_path / "state" / "checkpoints").glob("*.json")).read_text())
    position = state["sources"]["in"]["position"]
    assert position == {"kafka_offsets": {f"{src}:{p}": o for p, o in ends.items()}}
    assert broker.committed(group, src) == dict(ends)


def test_restart_resumes_from_checkpoint_without_rereading(broker: Broker, names: Any, tmp_path: Path) -> None:
    src, group = names("resume-in"), names("resume-group")
    broker.create_topics(src)
    broker.produce(src, ({"id": i} for i in range(500)))
    config = {
        "name": names("resume"),
        "settings": {"checkpoint": {"interval": 0.5}},
        "sources": {"in": source(broker, src, group)},
        "sinks": {"seen": {"type": "collect", "inputs": ["in"]}},
    }
    run = start_pipeline(config, tmp_path / "state")
    eventually(lambda: len(run.nodes["seen"].component.records) >= 500, timeout=60)
    stop_pipeline(run)
    broker.produce(src, ({"id": i} for i in range(500, 800)))
    # a new group id: only the checkpoint can say where to resume
    config["sources"]["in"]["group_id"] = names("resume-other-group")
    run = start_pipeline(config, tmp_path / "state")
    eventually(lambda: len(run.nodes["seen"].component.records) >= 300, timeout=60)
    stop_pipeline(run)
    ids = sorted(r["id"] for r in run.result.components["seen"].records)
    assert ids == list(range(500, 800))


def test_a_partition_with_nothing_left_to_read_is_checkpointed_at_the_committed_offset(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    """A partition assigned (or reassigned after a rebalance) while it is idle stays in the checkpoint, where
    the group resumes it, instead of dropping out until a record comes."""
    src, group = names("idle-in"), names("idle-group")
    broker.create_topics(src, partitions=1)
    broker.produce(src, ({"id": i} for i in range(200)))
    config = {"name": names("idle"), "settings": {"checkpoint": {"interval": 0.5}},
              "sources": {"in": source(broker, src, group)}, "sinks": {"seen": {"type": "collect", "inputs": ["in"]}}}
    run = start_pipeline(config, tmp_path / "first")
    eventually(lambda: broker.committed(group, src, 1) == {0: 200}, timeout=60, what="the first run's commit")
    stop_pipeline(run)

    second = tmp_path / "second"
    run = start_pipeline(config, second)  # the same group, no checkpoint of its own
    try:
        eventually(lambda: checkpointed_offsets(second) == {f"{src}:0": 200}, timeout=30,
                   what=lambda: f"the idle partition in the checkpoint (offsets: {checkpointed_offsets(second)})")
    finally:
        stop_pipeline(run)
    assert checkpointed_offsets(second) == {f"{src}:0": 200}
    assert run.result is not None and run.result.components["seen"].records == []


def test_auto_commit_mode_commits_only_acknowledged_offsets(broker: Broker, names: Any, tmp_path: Path) -> None:
    src, group = names("auto-in"), names("auto-group")
    broker.create_topics(src, partitions=1)
    broker.produce(src, ({"id": i} for i in range(300)))
    run = start_pipeline({
        "name": names("auto"),
        "settings": {"batch_size": 50, "checkpoint": {"interval": 60}},  # no checkpoint commit during the test
        "sources": {"in": source(broker, src, group, enable_auto_commit=True, auto_commit_interval_ms=100)},
        "sinks": {"seen": {"type": "collect", "inputs": ["in"], "fail_on": 3}},  # the third batch fails
    }, tmp_path / "state")
    assert run.join(60)
    assert run.result is not None and run.result.status == "failed"
    # the source read far more than two batches; only the two the sink wrote may be committed
    assert run.result.stats["in"].records_in > 100
    assert broker.committed(group, src, 1).get(0, 0) <= 100


def test_a_topic_that_does_not_exist_fails_the_run_with_one_clear_line(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    missing = names("no-such-topic")
    run = start_pipeline({
        "name": names("missing"),
        "sources": {"in": source(broker, missing, names("missing-group"))},
        "sinks": {"seen": {"type": "collect", "inputs": ["in"]}},
    }, tmp_path / "state")
    assert run.join(60), "the source kept polling a topic that does not exist"
    assert run.result is not None and run.result.status == "failed"
    assert "topic does not exist" in str(run.error) and missing in str(run.error)
