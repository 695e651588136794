"""The Kafka examples validate and run; the docs pages list every option of both components."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conduix import load_pipeline
from conduix.plugins import get_plugin_host
from conduix_kafka import KafkaSinkConfig, KafkaSourceConfig
from tests.kafka.conftest import ROOT, Broker, eventually

EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("kafka_*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_validates(example: str) -> None:
    load_pipeline(ROOT / "examples" / example, registry=get_plugin_host().registry)


@pytest.mark.parametrize(("page", "model"), [("kafka-source.md", KafkaSourceConfig),
                                             ("kafka-sink.md", KafkaSinkConfig)])
def test_docs_list_every_option_with_its_default(page: str, model: Any) -> None:
    text = (ROOT / "docs" / "connectors" / page).read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)]  # option | type | default | what
        if len(cells) == 6 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = cells[3]
    for name, field in model.model_fields.items():
        assert name in rows, f"{page} does not document {name!r}"
        default = rows[name].strip()
        if field.is_required():
            assert default == "**required**", (name, default)
        elif field.default_factory is None:
            shown = {None: "null", True: "true", False: "false"}.get(field.default, str(field.default))
            assert default.strip("`") == shown, (name, default, shown)


@pytest.mark.integration("kafka")
def test_orders_example_runs_end_to_end(broker: Broker, conduix_process: Any, tmp_path: Path) -> None:
    import yaml

    broker.create_topics("orders", "orders-clean-eu", "orders-dead-letter", partitions=1)
    broker.produce("orders", [
        {"id": 1, "region": "eu", "amount": 12.5, "internal": "x"},
        {"id": 2, "region": "eu", "amount": 3, "test": True},
        b"{not json",
        {"id": 3, "region": "eu", "amount": 1.25},
    ], key=lambda i: f"customer-{i}")
    config = yaml.safe_load((ROOT / "examples" / "kafka_orders_to_kafka.yaml").read_text())
    config["sources"]["orders"]["session_timeout_ms"] = 6000
    for component in (config["sources"]["orders"], *config["sinks"].values()):
        component["brokers"] = broker.bootstrap
    proc = conduix_process(config).start()
    try:
        eventually(lambda: len(broker.read_all("orders-dead-letter", expect=0, idle=0.3, partitions=1)) >= 1
                   and len(broker.read_all("orders-clean-eu", expect=0, idle=0.3, partitions=1)) >= 2,
                   timeout=60, message=proc.output)
    finally:
        assert proc.stop() == 0, proc.output()
    clean = broker.read_all("orders-clean-eu", expect=2, partitions=1)
    assert [json.loads(m.value()) for m in clean] == [
        {"id": 1, "region": "eu", "amount": 12.5, "amount_cents": 1250, "received_from": "orders"},
        {"id": 3, "region": "eu", "amount": 1.25, "amount_cents": 125, "received_from": "orders"}]
    assert [m.key() for m in clean] == [b"customer-0", b"customer-3"]
    assert dict(clean[1].headers()) == {"source_offset": b"3"}
    dead = json.loads(broker.read_all("orders-dead-letter", expect=1, partitions=1)[0].value())
    assert dead["record"] == {"message": "{not json"} and dead["position"] == "orders[0]@2"
