"""The Kafka examples validate and run (the option tables of the pages: tests/docs/test_connector_pages.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conduix import load_pipeline
from conduix.plugins import get_plugin_host
from conduix.testing import eventually
from tests.kafka.conftest import FAST_GROUP, Broker
from tests.running import EXAMPLES, load_example, until

KAFKA_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("kafka_*.yaml"))


@pytest.mark.parametrize("example", KAFKA_EXAMPLES)
def test_example_validates(example: str) -> None:
    load_pipeline(EXAMPLES / example, registry=get_plugin_host().registry)


@pytest.mark.integration("kafka")
def test_orders_example_runs_end_to_end(broker: Broker, conduix_process: Any, tmp_path: Path) -> None:
    broker.create_topics("orders", "orders-clean-eu", "orders-dead-letter", partitions=1)
    broker.produce("orders", [
        {"id": 1, "region": "eu", "amount": 12.5, "internal": "x"},
        {"id": 2, "region": "eu", "amount": 3, "test": True},
        b"{not json",
        {"id": 3, "region": "eu", "amount": 1.25},
    ], key=lambda i: f"customer-{i}")
    config = load_example("kafka_orders_to_kafka.yaml")
    config["sources"]["orders"]["session_timeout_ms"] = 6000
    for component in (config["sources"]["orders"], *config["sinks"].values()):
        component["brokers"] = broker.bootstrap
    proc = conduix_process(config).start()
    try:
        eventually(lambda: len(broker.read_all("orders-dead-letter", expect=0, idle=0.3, partitions=1)) >= 1
                   and len(broker.read_all("orders-clean-eu", expect=0, idle=0.3, partitions=1)) >= 2,
                   timeout=60, what=proc.output)
    finally:
        code = proc.stop()  # records failed on purpose: completed with errors, exit 3
        assert code == 3 and "record errors (orders: 1)" in proc.output(), proc.output()
    clean = broker.read_all("orders-clean-eu", expect=2, partitions=1)
    assert [json.loads(m.value()) for m in clean] == [
        {"id": 1, "region": "eu", "amount": 12.5, "amount_cents": 1250, "received_from": "orders"},
        {"id": 3, "region": "eu", "amount": 1.25, "amount_cents": 125, "received_from": "orders"}]
    assert [m.key() for m in clean] == [b"customer-0", b"customer-3"]
    assert dict(clean[1].headers()) == {"source_offset": b"3"}
    dead = json.loads(broker.read_all("orders-dead-letter", expect=1, partitions=1)[0].value())
    assert dead["record"] == {"message": "{not json"} and dead["position"] == "orders[0]@2"


@pytest.mark.integration("kafka")
def test_exactly_once_example_masks_cards_in_transactions_that_commit_the_offsets(
        broker: Broker, names: Any, conduix_process: Any) -> None:
    """examples/kafka_exactly_once.yaml: every payment arrives once in payments-masked (read_committed) with
    only the card's last four digits and the key it had; the group's offsets went in with the transactions."""
    src, dst, group = names("payments"), names("payments-masked"), names("conduix-payments-eos")
    broker.create_topics(src, dst)
    n = 1200
    broker.produce(src, ({"id": i, "card": f"4000123412340{i:03d}"[-16:], "amount": i} for i in range(n)),
                   key=lambda i: f"customer-{i % 7}")
    config = load_example("kafka_exactly_once.yaml")
    config["sources"]["payments"].update(topics=[src], group_id=group, **FAST_GROUP)
    config["sinks"]["masked"].update(topic=dst, transactional_id=names("conduix-payments-eos-1"))
    proc = conduix_process(config, env={"KAFKA_BROKERS": broker.bootstrap}).start()
    try:
        until(proc, lambda: sum(broker.committed(group, src).values()) >= n, 120)
    finally:
        assert proc.stop() == 0, proc.output()
    out = broker.read_all(dst, expect=n)
    records = {json.loads(m.value())["id"]: (m.key(), json.loads(m.value())) for m in out}
    assert len(out) == n and set(records) == set(range(n))
    key, record = records[8]
    assert key == b"customer-1"
    assert record == {"id": 8, "card": "****0008", "amount": 8}
