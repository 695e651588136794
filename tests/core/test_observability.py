"""Metrics on /metrics, health and readiness, live tap and top, spans per batch, trace context."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conduix import Batch, ComponentConfig, Pipeline, Sink, hookimpl
from conduix.config import TelemetrySettings, pipeline_from_dict
from conduix.observability import Telemetry, extract_context, trace_headers
from conduix.observability.server import ObservabilityServer
from conduix.testing import eventually, test_registry
from tests.conftest import ROOT, conduix


def test_run_serves_metrics_health_ready_status_tap_and_top(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: observed\nsources:\n  gen: {type: generate, rate: 2000}\n"
                    "transforms:\n  tag:\n    type: router\n    inputs: [gen]\n    routes: [all]\n"
                    "sinks:\n  out: {type: blackhole, inputs: [tag.all]}\n")
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--metrics-port", "0"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CONDUIX_STATE_DIR": str(tmp_path)})
    try:
        line = proc.stderr.readline()
        url = re.search(r"(http://\S+)/metrics", line).group(1)
        client = httpx.Client(timeout=10)
        assert client.get(f"{url}/health").json() == {"status": "alive"}
        eventually(lambda: client.get(f"{url}/ready").status_code == 200, 20, "/ready to answer 200")
        assert client.get(f"{url}/ready").json()["ready"] is True

        def records_counted() -> str | None:
            text = client.get(f"{url}/metrics").text
            found = re.search(r'conduix_records_in_total\{[^}]*component="gen"[^}]*\} (\d+)', text)
            return text if found and float(found.group(1)) > 0 else None

        metrics = eventually(records_counted, 20, "records of 'gen' counted in /metrics")
        assert "conduix_batch_duration_seconds_bucket" in metrics
        assert 'conduix_up{pipeline="observed"} 1.0' in metrics
        status = client.get(f"{url}/status").json()
        assert status["pipelines"][0]["components"]["out"]["records_in"] > 0
        tapped = conduix("tap", "tag", "--url", url, "-n", "3", "--output", "all")
        assert tapped.returncode == 0, tapped.stderr
        records = [json.loads(x) for x in tapped.stdout.splitlines()]
        assert len(records) == 3 and all("seq" in r for r in records)
        missing = conduix("tap", "nope", "--url", url, "-n", "1")
        assert missing.returncode == 1 and "observed/gen" in missing.stderr
        top = conduix("top", "--url", url, "--once")
        assert top.returncode == 0 and "gen" in top.stdout and "blackhole" not in top.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0


def test_tap_and_top_say_how_to_start_an_endpoint():
    proc = conduix("top", "--url", "http://127.0.0.1:9", "--once")
    assert proc.returncode == 1 and "--metrics-port" in proc.stderr


class HeaderSink(Sink[ComponentConfig]):
    """Keeps the trace headers a message sink would send with each batch."""

    Config = ComponentConfig
    sent: list[dict[str, str]] = []

    def write(self, batch: Batch) -> None:
        HeaderSink.sent.append(trace_headers(batch))


class Plugin:
    @hookimpl
    def conduix_register_components(self, registry):
        registry.add_sink("headers", HeaderSink)


def traced(telemetry_settings: dict[str, Any]) -> tuple[Telemetry, InMemorySpanExporter]:
    telemetry = Telemetry(TelemetrySettings(**telemetry_settings), prometheus=False)
    exporter = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return telemetry, exporter


def test_one_span_per_batch_per_component_and_trace_context_across_pipelines():
    telemetry, exporter = traced({"trace_sample_ratio": 1.0})
    first = Pipeline(pipeline_from_dict({
        "name": "upstream", "settings": {"batch_size": 10},
        "sources": {"gen": {"type": "generate", "count": 30}},
        "transforms": {"route": {"type": "router", "inputs": ["gen"], "routes": ["a"]}},
        "sinks": {"out": {"type": "headers", "inputs": ["route.a"]}},
    }, registry=test_registry(Plugin())))
    HeaderSink.sent = []
    run = first.create_run()
    telemetry.attach(run)
    run.start()
    assert run.join(10) and run.result.ok
    spans = exporter.get_finished_spans()
    names = sorted(s.name for s in spans)
    assert names == sorted(["gen read"] * 3 + ["route process"] * 3 + ["out write"] * 3)
    reads = {s.context.trace_id for s in spans if s.name == "gen read"}
    assert {s.context.trace_id for s in spans} == reads  # stage and sink spans belong to the batch's trace
    assert all(h["traceparent"].startswith("00-") for h in HeaderSink.sent)

    # a second pipeline receives those headers with its records and continues the same traces
    incoming = [{"x": i} for i in range(3)]
    second = Pipeline(pipeline_from_dict({
        "name": "downstream",
        "sources": {"in": {"type": "list", "records": incoming, "batch_size": 1}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}},
    }, registry=test_registry()))
    run2 = second.create_run()
    assert all(extract_context(headers) is not None for headers in HeaderSink.sent)
    source = run2.nodes["in"].component
    original_read = source.read

    def read_with_headers(n: int):
        batch = original_read(n)
        if batch is not None:
            batch.meta = [{**m, "headers": HeaderSink.sent[m["offset"]]} for m in batch.meta]
        return batch

    source.read = read_with_headers
    exporter.clear()
    telemetry.attach(run2)
    run2.start()
    assert run2.join(10) and run2.result.ok
    downstream = {s.context.trace_id for s in exporter.get_finished_spans() if s.name == "in read"}
    assert downstream and downstream <= reads
    telemetry.shutdown()


def test_sampling_traces_only_a_share_of_batches():
    telemetry, exporter = traced({"trace_sample_ratio": 0.0001})
    run = Pipeline(pipeline_from_dict({
        "settings": {"batch_size": 10},
        "sources": {"gen": {"type": "generate", "count": 2000}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}},
    }, registry=test_registry())).create_run()
    telemetry.attach(run)
    run.start()
    assert run.join(10)
    assert len(exporter.get_finished_spans()) < 20  # 200 batches, about none sampled
    telemetry.shutdown()


def test_failed_checkpoints_are_counted_and_the_run_goes_on(tmp_path):
    class BrokenStore:
        def load(self, pipeline):
            return None

        def save(self, pipeline, checkpoint):
            raise OSError("No space left on device")

    spec = pipeline_from_dict({
        "name": "cp", "settings": {"batch_size": 10, "checkpoint": {"interval": 0.01}},
        "sources": {"gen": {"type": "generate", "count": 500, "rate": 5000}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}},
    }, registry=test_registry())
    from conduix.runtime import PipelineRun

    run = PipelineRun(spec, state_dir=tmp_path, checkpoints=BrokenStore())
    telemetry = Telemetry(prometheus=True)
    telemetry.attach(run)
    server = ObservabilityServer(telemetry).start()
    run.start()
    assert run.join(20)
    assert run.result.ok and run.checkpoint_failures > 0
    metrics = httpx.get(f"{server.url}/metrics").text
    assert re.search(r'conduix_checkpoint_failures_total\{pipeline="cp"\} [1-9]', metrics)
    assert httpx.get(f"{server.url}/ready").status_code == 503  # the run has ended
    server.stop()
    telemetry.shutdown()


def test_traces_cross_pipelines_through_http_headers():
    telemetry, exporter = traced({"trace_sample_ratio": 1.0})
    receiver = Pipeline(pipeline_from_dict({
        "name": "receiver",
        "sources": {"api": {"type": "http_server", "port": 0, "path": "/ingest"}},
        "sinks": {"seen": {"type": "collect", "inputs": ["api"]}},
    }, registry=test_registry())).create_run()
    telemetry.attach(receiver)
    receiver.start()
    try:
        port = eventually(lambda: receiver.nodes["api"].component.port, 20, "the receiver to listen")
        sender = Pipeline(pipeline_from_dict({
            "name": "sender", "settings": {"batch_size": 5},
            "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(10)]}},
            "sinks": {"out": {"type": "http", "inputs": ["in"], "url": f"http://127.0.0.1:{port}/ingest"}},
        }, registry=test_registry())).create_run()
        telemetry.attach(sender)
        sender.start()
        assert sender.join(30) and sender.result.ok, sender.error
        upstream = {s.context.trace_id for s in exporter.get_finished_spans() if s.name == "in read"}
        eventually(lambda: len(receiver.nodes["seen"].component.records) == 10, 20, "the 10 records received")
    finally:
        receiver.stop()
        receiver.join(20)
    assert len(upstream) == 2
    assert all("traceparent" in m["headers"] for m in receiver.result.components["seen"].meta)
    downstream = {s.context.trace_id for s in exporter.get_finished_spans() if s.name == "api read"}
    assert downstream and downstream <= upstream
    telemetry.shutdown()


def test_consumer_lag_per_partition_and_a_failing_lag_never_breaks_anything():
    run = Pipeline(pipeline_from_dict({
        "name": "lagged",
        "sources": {"in": {"type": "list", "records": [{"x": 1}]}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}},
    }, registry=test_registry())).create_run()
    node = run.nodes["in"]
    node.component.lag = lambda: {0: 5, 1: 7}
    assert node.lag() == {0: 5, 1: 7}
    assert run.nodes["out"].lag() is None  # sinks have no lag
    telemetry = Telemetry(prometheus=True)
    telemetry.attach(run)
    metrics = telemetry.prometheus_text().decode()
    assert re.search(r'conduix_consumer_lag\{[^}]*partition="1"[^}]*\} 7', metrics), metrics

    def broken():
        raise ConnectionError("broker gone")

    node.component.lag = broken
    assert node.lag() is None
    assert "conduix_consumer_lag{" not in telemetry.prometheus_text().decode()
    telemetry.shutdown()
