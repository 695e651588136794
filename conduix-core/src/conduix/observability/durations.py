"""The batch-duration histogram, kept by the runtime in plain Python and handed to the exporters.

Recording a measurement through the OpenTelemetry SDK (attributes cleaned and hashed, an exemplar filter
asked, a lock) cost 10-20 µs per component and batch, and measured several percent of a simple pipeline's
CPU. Here a component adds to its own :class:`Durations` (a bisect, an uncontended lock), and the metric
readers built by :class:`~conduix.observability.telemetry.Telemetry` add the aggregated points to what the
SDK collected, as the SDK's explicit-bucket histogram would export them: same name, unit, buckets,
attributes, count, sum, min and max.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import replace
from time import time_ns
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["BOUNDS", "Durations", "with_durations"]

NAME, UNIT, DESCRIPTION = "conduix_batch_duration", "s", "Time a component spent on one batch."
SCOPE = "conduix"
BOUNDS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                             10.0, 30.0, 60.0)
"""Bucket bounds in seconds, from half a millisecond (a batch of a fused chain) to a minute (a sink waiting
out a server's outage). They were the SDK's defaults, meant for milliseconds (0, 5, 10, ... 10,000), which
put nearly every batch in the first bucket: quantiles of the histogram said nothing."""


class Durations:
    """The batch durations of one set of attributes (one component of one pipeline)."""

    __slots__ = ("_lock", "attributes", "counts", "max", "min", "start", "sum")

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = dict(attributes)
        self.counts = [0] * (len(BOUNDS) + 1)
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.start = time_ns()
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self.counts[bisect_left(BOUNDS, seconds)] += 1
            self.sum += seconds
            if seconds < self.min:
                self.min = seconds
            if seconds > self.max:
                self.max = seconds

    def snapshot(self) -> tuple[list[int], float, float, float]:
        with self._lock:
            return list(self.counts), self.sum, self.min, self.max


def _temporality(reader: Any) -> AggregationTemporality:
    """The reader's temporality for histograms (its exporter's preference); cumulative unless it says delta."""
    for instrument, temporality in getattr(reader, "_instrument_class_temporality", {}).items():
        if getattr(instrument, "__name__", "") == "_Histogram":
            return temporality
    return AggregationTemporality.CUMULATIVE


class _DurationsReader:
    """Mixed in before an SDK metric reader: adds the histogram points to every collection it receives."""

    _durations: Callable[[], Iterable[Durations]]
    _resource: Resource
    _previous: dict[int, tuple[list[int], float, int]]
    _collecting: threading.RLock
    _received: bool

    def collect(self, timeout_millis: float = 10_000) -> None:
        with self._collecting:
            self._received = False
            super().collect(timeout_millis)  # type: ignore[misc]
            # the SDK hands nothing on when its own instruments had nothing (no run attached any more)
            if not self._received and getattr(self, "_collect", None) is not None:
                metric = self._histogram()
                if metric is not None:
                    super()._receive_metrics(_added(None, metric, self._resource),  # type: ignore[misc]
                                             timeout_millis=timeout_millis)

    def _receive_metrics(self, metrics_data: MetricsData | None, timeout_millis: float = 10_000,
                         **kwargs: Any) -> None:
        self._received = True
        metric = self._histogram()
        if metric is not None:
            metrics_data = _added(metrics_data, metric, self._resource)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)  # type: ignore[misc]

    def _histogram(self) -> Metric | None:
        temporality = _temporality(self)
        now = time_ns()
        points = []
        for durations in self._durations():
            counts, total, low, high = durations.snapshot()
            start = durations.start
            if temporality == AggregationTemporality.DELTA:  # since this reader's last collection
                before = self._previous.get(id(durations))
                self._previous[id(durations)] = (counts, total, now)
                if before is not None:
                    counts = [c - b for c, b in zip(counts, before[0])]
                    total, start = total - before[1], before[2]
            count = sum(counts)
            if count:  # min and max are those since the start (not kept per interval)
                points.append(HistogramDataPoint(attributes=dict(durations.attributes), start_time_unix_nano=start,
                                                 time_unix_nano=now, count=count, sum=total, bucket_counts=counts,
                                                 explicit_bounds=BOUNDS, min=low, max=high, exemplars=[]))
        if not points:
            return None
        return Metric(name=NAME, description=DESCRIPTION, unit=UNIT,
                      data=Histogram(data_points=points, aggregation_temporality=temporality))


def _added(metrics_data: MetricsData | None, metric: Metric, resource: Resource) -> MetricsData:
    """``metrics_data`` with ``metric`` added to the scope ``conduix`` (made when the SDK collected nothing)."""
    if metrics_data is None or not metrics_data.resource_metrics:
        return MetricsData(resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[
            ScopeMetrics(scope=InstrumentationScope(SCOPE), metrics=[metric], schema_url="")], schema_url="")])
    first, *others = metrics_data.resource_metrics
    scopes = list(first.scope_metrics)
    for index, scope in enumerate(scopes):
        if scope.scope.name == SCOPE:
            scopes[index] = replace(scope, metrics=[*scope.metrics, metric])
            break
    else:
        scopes.append(ScopeMetrics(scope=InstrumentationScope(SCOPE), metrics=[metric], schema_url=""))
    return replace(metrics_data, resource_metrics=[replace(first, scope_metrics=scopes), *others])


def with_durations(reader_class: type, durations: Callable[[], Iterable[Durations]], resource: Resource,
                   **kwargs: Any) -> Any:
    """An instance of ``reader_class`` (an SDK MetricReader) that also exports the batch durations."""
    def __init__(self: Any, **options: Any) -> None:
        # set before the reader starts (a periodic reader's thread may collect at once)
        self._durations, self._resource, self._previous = durations, resource, {}
        self._collecting, self._received = threading.RLock(), False
        reader_class.__init__(self, **options)  # type: ignore[misc]

    return type(reader_class.__name__, (_DurationsReader, reader_class), {"__init__": __init__})(**kwargs)
