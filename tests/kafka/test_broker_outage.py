"""The sink's broker is killed while records flow and restarted empty (memory storage): the runtime's
bounded queue holds the source back, the sink retries, and everything not yet written is delivered."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from tests.kafka.conftest import Broker, start_pipeline

pytestmark = [pytest.mark.integration("kafka"), pytest.mark.slow]

N = 20000
BATCH = 200
QUEUE = 4


def test_broker_killed_and_restarted_while_the_sink_writes(own_broker: Broker, names: Any, tmp_path: Path) -> None:
    topic = names("outage-out")
    own_broker.create_topics(topic)
    run = start_pipeline({
        "name": names("outage"),
        "settings": {"batch_size": BATCH, "queue_size": QUEUE},
        "sources": {"gen": {"type": "generate", "count": N, "rate": 2500, "record": {"kind": "event"}}},
        "sinks": {"out": {"type": "kafka", "inputs": ["gen"], "brokers": own_broker.bootstrap, "topic": topic,
                          "message_timeout_ms": 3000, "flush_timeout": 1.0,
                          "retry": {"initial": 0.2, "max": 1.0}}},
    }, tmp_path / "state")
    try:
        eventually(lambda: run.stats()["out"].records_out >= 2000, timeout=60)
        own_broker.kill()
        eventually(lambda: run.stats()["out"].retries > 0, timeout=30, what="the sink never retried")
        written_before = run.stats()["out"].records_out  # frozen now: those went down with the broker
        time.sleep(3)  # sleep-ok: memory must stay bounded for as long as the broker is down
        # bounded memory: the source is held back by the full queue, not buffering without end
        stats = run.stats()
        held = stats["gen"].records_in - stats["out"].records_out
        assert held <= (QUEUE + 3) * BATCH, held
        assert stats["gen"].records_in < N, "the source finished during the outage; the test proves nothing"

        own_broker.start()
        own_broker.create_topics(topic)  # the restarted broker is empty
        assert run.join(120), f"the pipeline did not finish after the broker came back: {run.status()}"
    finally:
        if not run.done:
            run.abort("test over")
            run.join(10)
    run.raise_for_error()
    seqs = {json.loads(m.value())["seq"] for m in own_broker.read_all(topic, expect=N - written_before)}
    missing = set(range(written_before, N)) - seqs
    assert not missing, f"{len(missing)} records lost, first {sorted(missing)[:5]}"


def test_disk_buffer_survives_a_pipeline_restart_while_the_broker_is_down(
        own_broker: Broker, names: Any, conduix_process: Any) -> None:
    n = 2000
    topic = names("disk-out")
    own_broker.create_topics(topic)
    own_broker.kill()  # Kafka is down before the pipeline starts
    proc = conduix_process({
        "name": names("disk"),
        "settings": {"batch_size": 200, "checkpoint": {"interval": 0.5}},
        "sources": {"gen": {"type": "generate", "count": n, "resume": True}},
        "sinks": {"out": {"type": "kafka", "inputs": ["gen"], "brokers": own_broker.bootstrap, "topic": topic,
                          "message_timeout_ms": 2000, "flush_timeout": 0.5, "retry": {"initial": 0.2, "max": 1.0},
                          "buffer": {"type": "disk"}}},
    }).start()

    def all_in_the_buffer() -> bool:  # acknowledged upstream once durable in the disk buffer
        state = proc.checkpoint()
        return bool(state) and state["sources"]["gen"]["position"] == {"sequence": n}

    eventually(all_in_the_buffer, timeout=60, what=proc.output)
    proc.kill()  # nothing reached Kafka; everything is in the disk buffer

    own_broker.start()
    own_broker.create_topics(topic)
    proc.start()  # the source has nothing left to read: only the buffer can deliver the records
    assert proc.proc is not None and proc.proc.wait(120) == 0, proc.output()
    seqs = sorted(json.loads(m.value())["seq"] for m in own_broker.read_all(topic, expect=n))
    assert sorted(set(seqs)) == list(range(n))
