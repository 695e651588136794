"""The batch-duration histogram kept by the runtime exports what the SDK's own histogram exported."""

from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

from conduix.config import TelemetrySettings
from conduix.observability import Telemetry
from conduix.observability.durations import BOUNDS, Durations, with_durations

LABELS = {"pipeline": "p", "component": "work", "kind": "stage", "type": "python"}
VALUES = [0.0, 0.0004, 0.002, 0.003, 0.3, 4.9, 5.0, 7.0, 12000.0]


def sdk_text() -> list[str]:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry, disable_target_info=True,
                                                                    scope_info_enabled=False)])
    histogram = provider.get_meter("conduix").create_histogram(
        "conduix_batch_duration", unit="s", description="Time a component spent on one batch.",
        explicit_bucket_boundaries_advisory=BOUNDS)
    for value in VALUES:
        histogram.record(value, LABELS)
    text = generate_latest(registry).decode()
    provider.shutdown()
    return [line for line in text.splitlines() if "batch_duration" in line]


def test_prometheus_text_is_the_sdk_histograms_even_with_no_run_attached() -> None:
    telemetry = Telemetry(TelemetrySettings())
    durations = telemetry.durations(dict(LABELS))
    assert telemetry.durations(dict(reversed(LABELS.items()))) is durations  # one per set of attributes
    for value in VALUES:
        durations.record(value)
    ours = [line for line in telemetry.prometheus_text().decode().splitlines() if "batch_duration" in line]
    telemetry.shutdown()
    assert ours == sdk_text()


def test_buckets_are_seconds_and_tell_milliseconds_apart() -> None:
    durations = Durations(LABELS)
    for value in (0.0004, 0.002, 0.003, 0.04, 2.0):  # fast batches, a slow one
        durations.record(value)
    filled = [bound for bound, count in zip((*BOUNDS, float("inf")), durations.counts) if count]
    assert filled == [0.0005, 0.0025, 0.005, 0.05, 2.5]


def test_a_reader_preferring_delta_gets_what_came_since_its_last_collection() -> None:
    durations = Durations(LABELS)
    reader = with_durations(InMemoryMetricReader, lambda: [durations], Resource.create({}),
                            preferred_temporality={Histogram: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])

    def collected() -> tuple[AggregationTemporality, int, float]:
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        (point,) = metric.data.data_points
        return metric.data.aggregation_temporality, point.count, point.sum

    durations.record(0.5)
    durations.record(3.0)
    assert collected() == (AggregationTemporality.DELTA, 2, 3.5)
    durations.record(1.0)
    assert collected() == (AggregationTemporality.DELTA, 1, 1.0)
    provider.shutdown()
