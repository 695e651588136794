"""Spans per batch per component, and W3C trace context across pipelines through message headers.

Connectors that send messages put :func:`trace_headers` of the batch into each
message's headers (Kafka, NATS, AMQP, HTTP); sources that receive them put the
headers in the record metadata under ``headers``, and the runtime continues the
trace from there (:func:`extract_context`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["extract_context", "trace_headers"]


@cache
def _propagator() -> TraceContextTextMapPropagator:
    # OpenTelemetry loads when a trace is first written or read: the sinks and sources that import this module
    # (Kafka, NATS, AMQP, HTTP) load none of it in a run without telemetry, whose batches carry no trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def trace_headers(batch: Any) -> dict[str, str]:
    """``{"traceparent": ...}`` for messages written from ``batch`` (empty when it is not traced)."""
    context = getattr(batch, "trace", None)
    if context is None:
        return {}
    carrier: dict[str, str] = {}
    _propagator().inject(carrier, context=context)
    return carrier


def extract_context(headers: Mapping[str, Any] | None) -> Context | None:
    """The trace context in message headers (bytes or str values), or None."""
    if not headers:
        return None
    carrier = {}
    for key, value in (headers.items() if isinstance(headers, Mapping) else headers):
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if key.lower() in ("traceparent", "tracestate"):
            carrier[key.lower()] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    if "traceparent" not in carrier:
        return None
    from opentelemetry import trace

    context = _propagator().extract(carrier)
    span_context = trace.get_current_span(context).get_span_context()
    return context if span_context.is_valid else None


def batch_parent(batch: Any) -> Context | None:
    """The context a source's span continues: the first record's incoming trace, if any. Metadata kept per
    batch (:class:`~conduix.components.SharedMeta`) is read as it is, not made into dicts."""
    from conduix.components import SharedMeta

    meta = getattr(batch, "_meta", None)
    if type(meta) is SharedMeta:
        headers = meta.columns.get("headers")
        return extract_context(headers[0] if headers else meta.shared.get("headers"))
    meta = batch.meta
    if not meta:
        return None
    first = meta[0]
    return extract_context(first.get("headers")) if isinstance(first, dict) else None
