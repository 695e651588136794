"""Bad records follow on_error; a SIGKILLed ``conduix run`` resumes from its checkpoint and loses nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.kafka.conftest import FAST_GROUP, Broker, eventually, start_pipeline, stop_pipeline

pytestmark = pytest.mark.integration("kafka")


def source(broker: Broker, topic: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
            "auto_offset_reset": "earliest", **FAST_GROUP, **extra}


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
               message=proc.output)
    proc.kill()
    written_at_kill = len(broker.read_all(dst, expect=0, idle=1.0))  # the high watermark may lag
    saved = proc.checkpoint()
    checkpointed = sum(saved["sources"]["in"]["position"]["kafka_offsets"].values()) if saved else 0
    assert written_at_kill < n, "the pipeline finished before it was killed; nothing was tested"

    proc.start()
    # every input record acknowledged (the output's high watermark lags a batch: no use here)
    eventually(lambda: sum(broker.committed(group, src).values()) >= n, timeout=120,
               message=proc.output)
    assert proc.stop() == 0, proc.output()

    ids = Counter(json.loads(m.value())["id"] for m in broker.read_all(dst, expect=n))
    assert set(ids) == set(range(n)), f"lost {sorted(set(range(n)) - set(ids))[:10]}"
    duplicates = sum(ids.values()) - n
    # only what was written after the last checkpoint can be written twice
    assert duplicates <= written_at_kill - checkpointed, (duplicates, written_at_kill, checkpointed, saved)
    final = proc.checkpoint()
    assert final is not None
    assert sum(final["sources"]["in"]["position"]["kafka_offsets"].values()) == n
