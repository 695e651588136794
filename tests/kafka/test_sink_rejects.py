"""Records Kafka refuses for good are rejected one by one and follow on_error; the rest is written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conduix.testing import run_pipeline
from tests.kafka.conftest import Broker

pytestmark = pytest.mark.integration("kafka")


def test_an_oversized_record_goes_to_the_dead_letter_output_and_its_neighbours_are_written(
        broker: Broker, names: Any) -> None:
    topic, raw_topic = names("rejects-out"), names("rejects-raw")
    broker.create_topics(topic, raw_topic, partitions=1)
    records = [{"n": 1}, {"n": 2, "blob": "x" * 2_000_000}, {"n": 3}, {"n": 4, "raw": 5}]
    run = run_pipeline({
        "name": names("rejects"),
        "sources": {"in": {"type": "list", "records": records}},
        "transforms": {"pick": {"type": "remap", "inputs": ["in"],
                                "source": "if .n == 4 { . = {\"message\": .raw} }"}},
        "sinks": {
            "out": {"type": "kafka", "inputs": ["pick"], "brokers": broker.bootstrap, "topic": topic,
                    "on_error": "dead_letter"},
            "raw": {"type": "kafka", "inputs": ["pick"], "brokers": broker.bootstrap, "topic": raw_topic,
                    "encoding": "bytes", "on_error": "drop"},
            "dlq": {"type": "collect", "inputs": ["out.dead_letter"]},
        },
    })
    dead = run.records("dlq")
    assert [d["record"]["n"] for d in dead] == [2]
    assert "MSG_SIZE_TOO_LARGE" in dead[0]["error"] or "too large" in dead[0]["error"].lower()
    values = [json.loads(m.value()) for m in broker.read_all(topic, expect=3, partitions=1)]
    assert values == [{"n": 1}, {"n": 3}, {"message": 5}]  # the records around the oversized one
    # bytes encoding: a record without 'field' is a tombstone (null value); an int cannot be bytes
    assert [m.value() for m in broker.read_all(raw_topic, expect=3, partitions=1)] == [None, None, None]
    assert run.result.stats["raw"].dropped == 1
