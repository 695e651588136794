"""Observability: OpenTelemetry metrics and traces, a Prometheus endpoint, health, live tap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conduix.config.model import TelemetrySettings

if TYPE_CHECKING:
    from conduix.observability.telemetry import Telemetry
    from conduix.observability.tracing import extract_context, trace_headers

# Imported when first used: the OpenTelemetry SDK takes a while to load, and even its API is more than a
# run without telemetry needs (`conduix run` of a plain pipeline imports no OpenTelemetry module).
_LAZY = {"Telemetry": "conduix.observability.telemetry", "extract_context": "conduix.observability.tracing",
         "trace_headers": "conduix.observability.tracing"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Telemetry", "TelemetrySettings", "extract_context", "trace_headers"]
