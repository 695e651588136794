"""Hook specifications: what a Conduix plugin can implement.

A plugin is a module named by an entry point in the ``conduix`` group, holding
functions marked with :data:`hookimpl`. Every hook here is documented in
``docs/plugins.md`` (a test checks that).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from conduix.registry import ComponentRegistry

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("conduix")
hookimpl = pluggy.HookimplMarker("conduix")


@hookspec
def conduix_register_components(registry: ComponentRegistry) -> None:
    """Register sources, stages and sinks by type name.

    Register lazily with ``"module:Class"`` strings so that listing plugins
    imports no client library::

        registry.add_source("kafka", "conduix_kafka.source:KafkaSource")
    """


@hookspec
def conduix_pipeline_started(pipeline: str, run_id: str) -> None:
    """A pipeline run started."""


@hookspec
def conduix_pipeline_stopped(pipeline: str, run_id: str, status: str, stats: dict[str, Any]) -> None:
    """A pipeline run ended; ``status`` is ``succeeded`` or ``failed``."""


@hookspec
def conduix_batch_failed(pipeline: str, component: str, error: BaseException, records: int) -> None:
    """A component failed on a batch of ``records`` records."""
