"""Metrics (OpenTelemetry, exported to Prometheus and OTLP) and traces of the runs in a process.

Counters are *observable*: the runtime keeps plain integers per component and
the exporters read them at collection time, so the hot path pays nothing for
them. The batch-duration histogram is kept per component in plain Python
(:mod:`conduix.observability.durations`) and added to what the readers collect;
spans are made only for the sampled share of batches.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from conduix.config.model import TelemetrySettings
from conduix.errors import ConfigError
from conduix.observability.durations import Durations, with_durations

if TYPE_CHECKING:
    from conduix.runtime.runner import PipelineRun

__all__ = ["Telemetry", "TelemetrySettings"]


# (instrument name, ComponentStats attribute, description); exported to Prometheus with a _total suffix
_COUNTERS = [
    ("conduix_records_in", "records_in", "Records a component received."),
    ("conduix_records_out", "records_out", "Records a component emitted or wrote."),
    ("conduix_bytes_in", "bytes_in", "Bytes a source read."),
    ("conduix_bytes_out", "bytes_out", "Bytes a sink wrote (where the sink reports it)."),
    ("conduix_batches_in", "batches_in", "Batches a component received."),
    ("conduix_batches_out", "batches_out", "Batches a component emitted."),
    ("conduix_dead_letters", "dead_letters", "Records sent to a dead-letter output."),
    ("conduix_dropped", "dropped", "Records dropped by an error policy or a full buffer."),
    ("conduix_retries", "retries", "Retries of transient failures."),
    ("conduix_acknowledged", "acknowledged", "Source batches acknowledged end to end."),
    ("conduix_restarts", "restarts", "Restarts of the component's worker."),
]


def _labels(run: PipelineRun, cid: str, stats: Any) -> dict[str, str]:
    return {"pipeline": run.spec.name, "component": cid, "kind": stats.kind, "type": stats.type}


class Telemetry:
    """The metrics and tracing of one process: attach runs, scrape :meth:`prometheus_text`."""

    def __init__(self, settings: TelemetrySettings | None = None, *, prometheus: bool = True) -> None:
        self.settings = settings = settings or TelemetrySettings()
        endpoint = settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        resource = Resource.create({"service.name": settings.service_name})
        readers: list[MetricReader] = []
        self.registry: Any = None
        self._durations: dict[tuple[tuple[str, str], ...], Durations] = {}
        self._durations_lock = threading.Lock()
        if prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self.registry = CollectorRegistry()
            readers.append(with_durations(PrometheusMetricReader, self._all_durations, resource,
                                          registry=self.registry, disable_target_info=True,
                                          scope_info_enabled=False))
        if endpoint:
            exporter_cls, span_exporter_cls = _otlp_exporters()
            readers.append(with_durations(
                PeriodicExportingMetricReader, self._all_durations, resource,
                exporter=exporter_cls(endpoint=endpoint.rstrip("/") + "/v1/metrics"),
                export_interval_millis=settings.export_interval * 1000))
        self.provider = MeterProvider(metric_readers=readers, resource=resource)
        self.runs: list[PipelineRun] = []
        meter = self.provider.get_meter("conduix")
        for name, attr, description in _COUNTERS:
            meter.create_observable_counter(name, callbacks=[self._counter(attr)], description=description)
        meter.create_observable_counter("conduix_errors", callbacks=[self._errors],
                                        description="Errors by component and kind (error type).")
        meter.create_observable_counter("conduix_checkpoint_writes", callbacks=[self._run_counter("writes")],
                                        description="Checkpoints written.")
        meter.create_observable_counter("conduix_checkpoint_failures",
                                        callbacks=[self._run_counter("failures")],
                                        description="Checkpoint writes that failed.")
        meter.create_observable_gauge("conduix_checkpoint_consecutive_failures",
                                      callbacks=[self._run_counter("in_a_row")],
                                      description="Checkpoint writes that failed since the last one written.")
        meter.create_observable_gauge("conduix_buffer_batches", callbacks=[self._buffer(0)],
                                      description="Batches waiting in front of a component.")
        meter.create_observable_gauge("conduix_buffer_fill_ratio", callbacks=[self._buffer(1)],
                                      description="How full a component's buffer is (0..1).")
        meter.create_observable_gauge("conduix_consumer_lag", callbacks=[self._lag],
                                      description="Messages not yet read, per partition (Kafka sources).")
        meter.create_observable_gauge("conduix_up", callbacks=[self._up],
                                      description="1 while the pipeline runs, 0 when it stopped.")
        # conduix_batch_duration (a histogram): see durations()
        self.tracer: trace.Tracer | None = None
        self.trace_sample_ratio = settings.trace_sample_ratio
        if settings.tracing and settings.trace_sample_ratio > 0:
            # a batch that continues no trace is sampled by the runtime (sampled_root) before any span is
            # made, so the 99% not traced cost no span; the SDK samples only what continues a parent's trace
            tracer_provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON))
            if endpoint:
                _, span_exporter_cls = _otlp_exporters()
                tracer_provider.add_span_processor(
                    BatchSpanProcessor(span_exporter_cls(endpoint=endpoint.rstrip("/") + "/v1/traces")))
            self.tracer_provider: TracerProvider | None = tracer_provider
            self.tracer = tracer_provider.get_tracer("conduix")
        else:
            self.tracer_provider = None

    # -- per batch ------------------------------------------------------------------------------
    def durations(self, attributes: dict[str, str]) -> Durations:
        """The batch-duration histogram of one component (one per set of attributes, shared by runs that
        have the same, as the SDK's histogram would be)."""
        key = tuple(sorted(attributes.items()))
        with self._durations_lock:
            found = self._durations.get(key)
            if found is None:
                found = self._durations[key] = Durations(attributes)
            return found

    def _all_durations(self) -> list[Durations]:
        with self._durations_lock:
            return list(self._durations.values())

    def sampled_root(self) -> bool:
        """Whether a batch that continues no incoming trace starts one (``trace_sample_ratio`` of them)."""
        return random.random() < self.trace_sample_ratio

    # -- runs ----------------------------------------------------------------------------------
    def attach(self, run: PipelineRun) -> None:
        self.runs.append(run)
        run.attach_telemetry(self)

    def detach(self, run: PipelineRun) -> None:
        if run in self.runs:
            self.runs.remove(run)

    # -- callbacks -------------------------------------------------------------------------------
    def _counter(self, attr: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            for run in list(self.runs):
                for cid, stats in run.stats().items():
                    yield Observation(getattr(stats, attr), _labels(run, cid, stats))
        return callback

    def _errors(self, options: CallbackOptions) -> Iterable[Observation]:
        for run in list(self.runs):
            for cid, stats in run.stats().items():
                for kind, count in list(stats.errors_by_kind.items()):
                    yield Observation(count, {**_labels(run, cid, stats), "error": kind})

    def _run_counter(self, which: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            for run in list(self.runs):
                value = {"writes": run.checkpoint_writes, "failures": run.checkpoint_failures,
                         "in_a_row": run.checkpoint_failures_in_a_row}[which]
                yield Observation(value, {"pipeline": run.spec.name})
        return callback

    def _buffer(self, index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            for run in list(self.runs):
                for cid, node in run.nodes.items():
                    usage = node.buffer_usage()
                    if usage is not None:
                        yield Observation(usage[index], _labels(run, cid, node.stats))
        return callback

    def _lag(self, options: CallbackOptions) -> Iterable[Observation]:
        for run in list(self.runs):
            for cid, node in run.nodes.items():
                for partition, value in (node.lag() or {}).items():
                    yield Observation(value, {**_labels(run, cid, node.stats), "partition": str(partition)})

    def _up(self, options: CallbackOptions) -> Iterable[Observation]:
        for run in list(self.runs):
            yield Observation(0 if run.done else 1, {"pipeline": run.spec.name})

    # -- export ------------------------------------------------------------------------------------
    def prometheus_text(self) -> bytes:
        from prometheus_client import generate_latest

        if self.registry is None:
            return b""
        return bytes(generate_latest(self.registry))

    def shutdown(self) -> None:
        self.provider.shutdown()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def _otlp_exporters() -> tuple[Any, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError("an OTLP endpoint is configured but the OTLP exporter is not installed",
                          hint="pip install 'conduix-core[otlp]'") from exc
    return OTLPMetricExporter, OTLPSpanExporter
