"""Bad records follow on_error; a SIGKILLed ``conduix run`` resumes from its checkpoint and loses nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration("kafka")


def source(broker: Broker, topic: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
            "auto_offset_reset": "earliest", "decoding": "json", **FAST_GROUP, **extra}


def mixed_values() -> list[bytes]:
    """100 records; every 10th (ids 5, 15, ...) is not valid JSON."""
    return [b'{"id": %d, "oops"' % i if i % 10 == 5 else json.dumps({"id": i}).encode() for i in range(100)]


def test_invalid_json_goes_to_a_dead_letter_topic_and_the_records_around_it_are_delivered(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    src, dst, dlq, group = names("bad-in"), names("bad-out"), names("bad-dlq"), names("bad-group")
    broker.create_topics(src, dst, dlq, partitions=1)
    broker.produce(src, mixed_values())
    run = start_pipeline({
        "name": names("bad"),
        "sources": {"in": source(broker, src, group, on_error="dead_letter")},
        "sinks": {
            "out": {"type": "kafka", "inputs": ["in"], "brokers": broker.bootstrap, "topic": dst},
            "dlq": {"type": "kafka", "inputs": ["in.dead_letter"], "brokers": broker.bootstrap, "topic": dlq},
        },
    }, tmp_path / "state")
    try:
        eventually(lambda: run.stats()["in"].acknowledged > 0 and run.stats()["dlq"].records_out >= 10, timeout=60)
    finally:
        stop_pipeline(run)
    good = [json.loads(m.value())["id"] for m in broker.read_all(dst, expect=90, partitions=1)]
    assert good == [i for i in range(100) if i % 10 != 5]
    dead = [json.loads(m.value()) for m in broker.read_all(dlq, expect=10, partitions=1)]
    assert [d["record"]["message"] for d in dead] == [f'{{"id": {i}, "oops"' for i in range(5, 100, 10)]
    assert dead[0]["error"].startswith("invalid JSON") and dead[0]["position"] == f"{src}[0]@5"
    assert dead[0]["metadata"]["offset"] == 5
    # the rejected records count as handled: the checkpoint passed them
    state = json.loads(next((tmp_path / "state" / "checkpoints").glob("*.json")).read_text())
    assert state["sources"]["in"]["position"]["kafka_offsets"] == {f"{src}:0": 100}


REMAP_OF_META = "\n".join(f".m_{name} = %{name}" for name in (
    "source", "topic", "partition", "offset", "key", "headers", "timestamp"))


@pytest.mark.parametrize("partitions", [1, 3])
def test_every_metadata_field_is_what_the_message_carried_for_remap_sinks_and_dead_letters(
        broker: Broker, names: Any, tmp_path: Path, partitions: int) -> None:
    """Keys (absent, not UTF-8), headers (none, a null value), timestamps, null and scalar values, invalid JSON
    between good records; batches from one partition and from several."""
    from conduix_kafka._client import kafka

    src, group = names("meta-in"), names("meta-group")
    broker.create_topics(src, partitions=partitions)
    n = 60
    producer = kafka.Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    bad: set[int] = set()
    values: dict[int, Any] = {}
    for i in range(n):
        partition = i % partitions
        key = None if i % 4 == 0 else b"\xffk" if i == 7 else f"k{i}".encode()
        headers = [] if i % 2 else [("h", f"v{i}".encode()), ("none", None)]
        value = b'{"bad"' if i % 10 == 3 else None if i == 11 else b"7" if i == 13 else json.dumps({"i": i}).encode()
        producer.produce(src, value, key=key, partition=partition, headers=headers, timestamp=1_700_000_000_000 + i)
        expected[(partition, i // partitions)] = {
            "source": "in", "topic": src, "partition": partition, "offset": i // partitions,
            "key": None if key is None else key.decode("utf-8", "replace"),
            "headers": {} if i % 2 else {"h": f"v{i}", "none": None}, "timestamp": 1_700_000_000_000 + i}
        if i % 10 == 3:
            bad.add(i)
        values[i] = {"message": None} if i == 11 else {"message": 7} if i == 13 else {"i": i}
    assert producer.flush(30) == 0
    run = start_pipeline({
        "name": names("meta"),
        "settings": {"batch_size": 1000},
        "sources": {"in": source(broker, src, group, on_error="dead_letter")},
        "transforms": {"shape": {"type": "remap", "inputs": ["in"], "source": REMAP_OF_META}},
        "sinks": {"seen": {"type": "collect", "inputs": ["shape"]},
                  "dead": {"type": "collect", "inputs": ["in.dead_letter"]}},
    }, tmp_path / "state")
    try:
        eventually(lambda: len(run.nodes["seen"].component.records) >= n - len(bad)
                   and len(run.nodes["dead"].component.records) >= len(bad), timeout=60, what="records not read")
    finally:
        stop_pipeline(run)
    seen = run.result.components["seen"]
    assert len(seen.records) == n - len(bad)
    for record, meta in zip(seen.records, seen.meta):
        want = expected[(meta["partition"], meta["offset"])]
        assert list(meta.items()) == list(want.items())  # the same fields, in the same order
        assert {k[2:]: v for k, v in record.items() if k.startswith("m_")} == want  # what remap's % paths see
        i = meta["timestamp"] - 1_700_000_000_000
        assert {k: v for k, v in record.items() if not k.startswith("m_")} == values[i]
    dead = run.result.components["dead"].records
    assert sorted(d["metadata"]["timestamp"] - 1_700_000_000_000 for d in dead) == sorted(bad)
    for d in dead:
        assert d["metadata"] == expected[(d["metadata"]["partition"], d["metadata"]["offset"])]
        assert d["record"] == {"message": '{"bad"'} and d["error"].startswith("invalid JSON")


def test_invalid_json_with_on_error_stop_fails_the_run_naming_the_record(
        broker: Broker, names: Any, tmp_path: Path) -> None:
    src, group = names("stop-in"), names("stop-group")
    broker.create_topics(src, partitions=1)
    broker.produce(src, mixed_values())
    run = start_pipeline({
        "name": names("stop"),
        "sources": {"in": source(broker, src, group)},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}},
    }, tmp_path / "state")
    assert run.join(60)
    assert run.result is not None and run.result.status == "failed"
    assert f"{src}[0]@5" in str(run.error) and "invalid JSON" in str(run.error)


def test_sigkill_mid_stream_then_restart_delivers_every_record(
        broker: Broker, names: Any, conduix_process: Any) -> None:
    n = 12000
    src, dst, group = names("kill-in"), names("kill-out"), names("kill-group")
    broker.create_topics(src, dst)
    broker.produce(src, ({"id": i} for i in range(n)), key=lambda i: str(i % 7))
    proc = conduix_process({
        "name": names("kill"),
        "settings": {"batch_size": 200, "checkpoint": {"interval": 1}},
        "sources": {"in": source(broker, src, group)},
        "transforms": {"slow": {"type": "python", "inputs": ["in"], "function": "tests.kafka.udfs:slow",
                                "mode": "batch", "options": {"delay": 0.05}}},
        "sinks": {"out": {"type": "kafka", "inputs": ["slow"], "brokers": broker.bootstrap, "topic": dst}},
    }).start()
    eventually(lambda: broker.high_watermarks(dst) >= 3000, timeout=90,
               what=proc.output)
    proc.kill()
    written_at_kill = len(broker.read_all(dst, expect=0, idle=1.0))  # the high watermark may lag
    saved = proc.checkpoint()
    checkpointed = sum(saved["sources"]["in"]["position"]["kafka_offsets"].values()) if saved else 0
    assert written_at_kill < n, "the pipeline finished before it was killed; nothing was tested"

    proc.start()
    # every input record acknowledged (the output's high watermark lags a batch: no use here)
    eventually(lambda: sum(broker.committed(group, src).values()) >= n, timeout=120,
               what=proc.output)
    assert proc.stop() == 0, proc.output()

    ids = Counter(json.loads(m.value())["id"] for m in broker.read_all(dst, expect=n))
    assert set(ids) == set(range(n)), f"lost {sorted(set(range(n)) - set(ids))[:10]}"
    duplicates = sum(ids.values()) - n
    # only what was written after the last checkpoint can be written twice
    assert duplicates <= written_at_kill - checkpointed, (duplicates, written_at_kill, checkpointed, saved)
    final = proc.checkpoint()
    assert final is not None
    assert sum(final["sources"]["in"]["position"]["kafka_offsets"].values()) == n
