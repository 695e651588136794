"""delivery: exactly_once, Kafka -> Kafka: transactions carry the consumed offsets; a SIGKILLed run
restarts without a single duplicate in the (read_committed) output, and a zombie is fenced."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker, Ids, start_pipeline

pytestmark = [pytest.mark.integration("kafka"), pytest.mark.slow]

N = 10000


def pipeline(broker: Broker, name: str, src: str, dst: str, group: str) -> dict[str, Any]:
    return {
        "name": name,
        "delivery": "exactly_once",
        "settings": {"batch_size": 200, "checkpoint": {"interval": 1}},
        "sources": {"in": {"type": "kafka", "brokers": broker.bootstrap, "topics": [src], "group_id": group,
                           "auto_offset_reset": "earliest", "decoding": "json", **FAST_GROUP}},
        "transforms": {"slow": {"type": "python", "inputs": ["in"], "function": "tests.kafka.udfs:slow",
                                "mode": "batch", "options": {"delay": 0.1}}},
        "sinks": {"out": {"type": "kafka", "inputs": ["slow"], "brokers": broker.bootstrap, "topic": dst,
                          "key": "{{ @meta.key }}", "retry": {"initial": 0.2, "max": 2.0}}},
    }


def committed_count(broker: Broker, dst: str) -> int:
    return len(broker.read_all(dst, expect=0, idle=0.5, timeout=30))


def test_sigkill_and_restart_with_exactly_once_gives_no_duplicates(
        broker: Broker, names: Any, conduix_process: Any) -> None:
    src, dst, group = names("eos-in"), names("eos-out"), names("eos-group")
    broker.create_topics(src, dst)
    broker.produce(src, ({"id": i} for i in range(N)), key=lambda i: str(i % 11))
    proc = conduix_process(pipeline(broker, names("eos"), src, dst, group)).start()
    eventually(lambda: broker.high_watermarks(dst) >= 2000, timeout=90, what=proc.output)
    proc.kill()  # mid-transaction, most likely: the restarted producer fences it and it is aborted
    assert committed_count(broker, dst) < N, "the pipeline finished before it was killed; nothing was tested"

    proc.start()
    eventually(lambda: sum(broker.committed(group, src).values()) >= N, timeout=150,
               what=proc.output)
    assert proc.stop() == 0, proc.output()

    out = broker.read_all(dst, expect=N)
    ids = Counter(json.loads(m.value())["id"] for m in out)
    assert set(ids) == set(range(N)), f"lost {len(set(range(N)) - set(ids))} records"
    assert [i for i, c in ids.items() if c > 1] == [], "duplicates in exactly-once mode"
    by_key: dict[bytes, list[int]] = {}
    for m in out:
        by_key.setdefault(m.key(), []).append(json.loads(m.value())["id"])
    assert all(v == sorted(v) for v in by_key.values()), "per-key order lost"


def test_a_zombie_with_the_same_transactional_id_is_fenced(broker: Broker, names: Any, tmp_path: Path) -> None:
    dst = names("fence-out")
    broker.create_topics(dst, partitions=1)
    txid = names("fence-tx")
    run = start_pipeline({
        "name": names("fence"),
        "delivery": "exactly_once",
        "settings": {"batch_size": 50},
        "sources": {"gen": {"type": "generate", "rate": 500}},
        "sinks": {"out": {"type": "kafka", "inputs": ["gen"], "brokers": broker.bootstrap, "topic": dst,
                          "transactional_id": txid}},
    }, tmp_path / "state")
    try:
        eventually(lambda: run.stats()["out"].records_out >= 100, timeout=60)
        newer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txid})
        newer.init_transactions(30)  # a new instance with the same id: the running one is now a zombie
        fenced = run.join(60)
        if not fenced:
            # A commit in flight at the moment of the fence can time out again and again on Tansu (librdkafka
            # keeps its EndTxn going; seen about once in ten loaded runs): the zombie then writes nothing more,
            # which is what matters; it must not have committed anything since.
            stuck_at = run.stats()["out"].records_out
            assert not run.join(5) and run.stats()["out"].records_out == stuck_at, "the fenced sink kept writing"
    finally:
        if not run.done:
            run.abort("test over")
            run.join(10)
    if fenced:
        assert run.result is not None and run.result.status == "failed"
        assert txid in str(run.error) and "failed for good" in str(run.error)
    written = len(broker.read_all(dst, expect=100, partitions=1))
    sink = run.stats()["out"]
    if sink.retries and written != sink.records_out:
        # A commit in flight at the fence (it had timed out and was being retried): the coordinator finishes
        # a transaction already past PrepareCommit, though this client only saw timeouts. That one batch is
        # committed without an acknowledgement (with a Kafka source its offsets are committed with it).
        assert sink.records_out < written <= sink.records_out + 50, (written, sink)
    else:
        assert written == sink.records_out  # no committed record that was not acknowledged


def test_exactly_once_through_a_rebalance(broker: Broker, names: Any, tmp_path: Path) -> None:
    src, dst, group = names("eos-rb-in"), names("eos-rb-out"), names("eos-rb-group")
    broker.create_topics(src, dst, partitions=4)
    ids = Ids(broker, src)
    ids.produce(6000)

    def member(name: str) -> dict[str, Any]:
        config = pipeline(broker, name, src, dst, group)
        config["settings"]["batch_size"] = 100
        return config

    first = start_pipeline(member(names("eos-a")), tmp_path / "a")
    second = None
    try:
        eventually(lambda: first.stats()["out"].records_out >= 1000, timeout=60)
        second = start_pipeline(member(names("eos-b")), tmp_path / "b")
        ids.until(lambda: second.stats()["out"].records_out > 0, lambda: first.stats()["out"].records_out,
                  timeout=90, what="the second member never got a partition")
        eventually(lambda: sum(broker.committed(group, src, 4).values()) >= ids.count, timeout=120,
                   what=lambda: f"committed {broker.committed(group, src, 4)} of {ids.count}")
    finally:
        for run in (first, second):
            if run is not None:
                run.stop()
                run.join(60)
    for run in (first, second):
        assert run is not None
        run.raise_for_error()
    written = Counter(json.loads(m.value())["id"] for m in broker.read_all(dst, expect=ids.count, partitions=4))
    assert set(written) == set(range(ids.count))
    assert [i for i, c in written.items() if c > 1] == [], "duplicates in exactly-once mode across a rebalance"
