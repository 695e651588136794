"""The ``kafka`` stage (the original README's KafkaStage, a cross-pipeline boundary inside a chain) against a real
broker: it produces, passes the delivered records on, and routes records Kafka refuses by on_error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.errors import ConfigError
from conduix.runtime import PipelineRun
from conduix.testing import run_pipeline, test_registry
from tests.kafka.conftest import Broker

pytestmark = pytest.mark.integration("kafka")


def test_the_stage_produces_and_passes_the_delivered_records_on(broker: Broker, names: Any) -> None:
    topic = names("stage-out")
    broker.create_topics(topic, partitions=1)
    records = [{"n": n} for n in range(50)]
    records[7]["blob"] = "x" * 2_000_000  # larger than the broker takes: rejected for good
    run = run_pipeline({
        "name": names("kafka-stage"),
        "settings": {"batch_size": 10},
        "sources": {"in": {"type": "list", "records": records}},
        "transforms": {
            "publish": {"type": "kafka", "inputs": ["in"], "brokers": broker.bootstrap, "topic": topic,
                        "key": "{{ n }}", "on_error": "dead_letter"},
            "after": {"type": "remap", "inputs": ["publish"], "source": ".published = true"},
        },
        "sinks": {"out": {"type": "collect", "inputs": ["after"]},
                  "dlq": {"type": "collect", "inputs": ["publish.dead_letter"]}},
    })
    delivered = [n for n in range(50) if n != 7]
    messages = broker.read_all(topic, expect=49, partitions=1)
    assert [json.loads(m.value())["n"] for m in messages] == delivered
    assert [m.key() for m in messages][:2] == [b"0", b"1"]
    assert [r["n"] for r in run.records("out")] == delivered
    assert all(r["published"] is True for r in run.records("out"))
    assert [d["record"]["n"] for d in run.records("dlq")] == [7]
    stats = run.result.stats
    assert (stats["publish"].records_in, stats["publish"].dead_letters, stats["after"].records_in) == (50, 1, 49)
    assert sorted(run.component("in").acknowledged)[-1] == (40, 50)


def test_the_stage_refuses_exactly_once_delivery(tmp_path: Path, broker: Broker, names: Any) -> None:
    spec = pipeline_from_dict({
        "delivery": "exactly_once",
        "sources": {"in": {"type": "list", "records": [{"n": 1}]}},
        "transforms": {"publish": {"type": "kafka", "inputs": ["in"], "brokers": broker.bootstrap,
                                   "topic": names("eo")}},
        "sinks": {"out": {"type": "collect", "inputs": ["publish"]}},
    }, registry=test_registry())
    with pytest.raises(ConfigError, match="stage 'publish' cannot take part in 'delivery: exactly_once'"):
        PipelineRun(spec, state_dir=tmp_path)
