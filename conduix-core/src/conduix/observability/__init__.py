"""Observability: OpenTelemetry metrics and traces, a Prometheus endpoint, health, live tap."""

from conduix.config.model import TelemetrySettings
from conduix.observability.telemetry import Telemetry
from conduix.observability.tracing import extract_context, trace_headers

__all__ = ["Telemetry", "TelemetrySettings", "extract_context", "trace_headers"]
