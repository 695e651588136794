"""The connector kit: every name a source, stage or sink package needs from Conduix, in one module.

Connectors (ours and third parties') import from here, from :mod:`conduix` and, in their tests, from
:mod:`conduix.testing` only; a test of ours fails when one of our connector packages imports anything
else of core. These names are the stable surface: they change only with a major version.

- Components: :class:`Source`, :class:`Stage`, :class:`Sink`, their config base :class:`ComponentConfig`,
  :class:`Access` (what a component reaches: files, hosts, code; returned by their ``access`` classmethod),
  :class:`Context`, :class:`Batch`, :class:`SharedMeta` (a batch's metadata kept per batch: shared fields
  and a column per field that differs; :class:`ReadColumn`, a column read from the batch's items only when
  read), :data:`Emit`, :class:`Rejected` (a record that cannot be handled),
  :func:`release` (give back what :meth:`Batch.hold` kept), :class:`AckTracker` (ordered positions to a
  checkpointable watermark), :class:`SinkStage` (a sink used as a stage: it writes and passes records on).
- Errors: :class:`ConduixError`, :class:`ConfigError`, :class:`ConnectorError`,
  :class:`RetryableError` (transient: the runtime retries, after ``retry_after`` seconds when given),
  :class:`ComponentError`, :class:`PluginError`.
- Registration: :data:`hookimpl`, :class:`ComponentRegistry`.
- Tracing: :func:`trace_headers` (W3C headers for the messages written from a batch).
- Secrets: :func:`redact` (a text with every secret the run knows masked), :func:`redact_url` (a URL with its
  password masked, for messages and logs).
- Templates: :class:`Template` (``logs-{{ service }}-%Y.%m.%d``), :class:`TemplateError`,
  :data:`TemplateText` (a config field holding one), :func:`record_time`.
- Tests: :func:`run_pipeline`, :func:`test_registry`, :func:`test_host`, :class:`ListSource`,
  :class:`CollectSink` (also in :mod:`conduix.testing`).

Everything is imported on first use, so a connector's ``plugin.py`` that takes :data:`hookimpl` from here
stays as cheap to import as the plugin listing needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conduix.components import (
        Access,
        Batch,
        ComponentConfig,
        Context,
        Emit,
        ReadColumn,
        Rejected,
        SharedMeta,
        Sink,
        Source,
        Stage,
        release,
    )
    from conduix.errors import (
        ComponentError,
        ConduixError,
        ConfigError,
        ConnectorError,
        PluginError,
        RetryableError,
    )
    from conduix.hookspecs import hookimpl
    from conduix.observability.tracing import trace_headers
    from conduix.redaction import redact, redact_url
    from conduix.registry import ComponentRegistry
    from conduix.runtime.acks import AckTracker
    from conduix.sink_stage import SinkStage
    from conduix.templates import Template, TemplateError, TemplateText, record_time
    from conduix.testing import CollectSink, ListSource, run_pipeline, test_host, test_registry

_WHERE = {
    "conduix.components": ("Access", "Batch", "ComponentConfig", "Context", "Emit", "ReadColumn", "Rejected",
                           "SharedMeta", "Sink", "Source", "Stage", "release"),
    "conduix.errors": ("ComponentError", "ConduixError", "ConfigError", "ConnectorError", "PluginError",
                       "RetryableError"),
    "conduix.hookspecs": ("hookimpl",),
    "conduix.observability.tracing": ("trace_headers",),
    "conduix.redaction": ("redact", "redact_url"),
    "conduix.registry": ("ComponentRegistry",),
    "conduix.runtime.acks": ("AckTracker",),
    "conduix.sink_stage": ("SinkStage",),
    "conduix.templates": ("Template", "TemplateError", "TemplateText", "record_time"),
    "conduix.testing": ("CollectSink", "ListSource", "run_pipeline", "test_host", "test_registry"),
}
_LAZY = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "Access",
    "AckTracker",
    "Batch",
    "CollectSink",
    "ComponentConfig",
    "ComponentError",
    "ComponentRegistry",
    "ConduixError",
    "ConfigError",
    "ConnectorError",
    "Context",
    "Emit",
    "ListSource",
    "PluginError",
    "ReadColumn",
    "Rejected",
    "RetryableError",
    "SharedMeta",
    "Sink",
    "SinkStage",
    "Source",
    "Stage",
    "Template",
    "TemplateError",
    "TemplateText",
    "hookimpl",
    "record_time",
    "redact",
    "redact_url",
    "release",
    "run_pipeline",
    "test_host",
    "test_registry",
    "trace_headers",
]
assert sorted(__all__) == sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conduix.connector' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
