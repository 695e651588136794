"""Traces cross pipelines through Kafka headers: the consuming pipeline continues the producer's traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conduix.checkpoint import open_store
from conduix.config import TelemetrySettings, pipeline_from_dict
from conduix.observability import Telemetry
from conduix.runtime import PipelineRun
from conduix.testing import eventually, test_registry
from tests.kafka.conftest import FAST_GROUP, Broker, stop_pipeline

pytestmark = pytest.mark.integration("kafka")


def traced_run(config: dict[str, Any], state_dir: Path, telemetry: Telemetry) -> PipelineRun:
    run = PipelineRun(pipeline_from_dict(config, registry=test_registry()), state_dir=state_dir,
                      checkpoints=open_store(None, state_dir))
    telemetry.attach(run)
    return run.start()


def test_a_record_path_across_two_pipelines_is_one_trace(broker: Broker, names: Any, tmp_path: Path) -> None:
    topic = names("traced")
    broker.create_topics(topic)
    telemetry = Telemetry(TelemetrySettings(trace_sample_ratio=1.0), prometheus=False)
    exporter = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))

    producer = traced_run({
        "name": names("upstream"), "settings": {"batch_size": 5},
        "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(20)]}},
        "sinks": {"out": {"type": "kafka", "inputs": ["in"], "brokers": broker.bootstrap, "topic": topic}},
    }, tmp_path / "a", telemetry)
    assert producer.join(60) and producer.result.ok, producer.error
    upstream = {s.context.trace_id for s in exporter.get_finished_spans() if s.name == "in read"}
    assert len(upstream) == 4
    exporter.clear()

    consumer = traced_run({
        "name": names("downstream"),
        "sources": {"k": {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic],
                          "group_id": names("traced-group"), "auto_offset_reset": "earliest", "decoding": "json",
                          **FAST_GROUP}},
        "sinks": {"seen": {"type": "collect", "inputs": ["k"]}},
    }, tmp_path / "b", telemetry)
    try:
        eventually(lambda: len(consumer.nodes["seen"].component.records) >= 20, timeout=90, what="not consumed")
    finally:
        stop_pipeline(consumer)
    assert all("traceparent" in m["headers"] for m in consumer.result.components["seen"].meta)
    downstream = {s.context.trace_id for s in exporter.get_finished_spans() if s.name == "k read"}
    assert downstream and downstream <= upstream  # the consumer's batches continue the producer's traces
    telemetry.shutdown()
