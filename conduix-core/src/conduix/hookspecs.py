"""Hook specifications: what a Conduix plugin can implement.

A plugin is a module named by an entry point in the ``conduix`` group, holding
functions marked with :data:`hookimpl`. Each hook's docstring is its reference
(what it is for, when it is called, ``:param`` for every argument, in the style
of pluggy's and pytest's own hook specs); the "Hooks" section of
``docs/plugins.md`` is generated from these docstrings and a test keeps it so.
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

    Called for every plugin that implements it each time a plugin manager is built (``conduix plugins``,
    ``conduix validate``, every pipeline load), so it must be cheap: register with ``"module:Class"``
    strings, which are imported only when a pipeline uses the type, so listing plugins imports no client
    library::

        registry.add_source("kafka", "conduix_kafka.source:KafkaSource")

    A hook that raises is reported with its distribution and skipped; two plugins registering the same
    type name for the same kind is an error naming both.

    :param registry: The :class:`~conduix.registry.ComponentRegistry` to fill: ``registry.add_source(type_name,
        "module:Class")``, ``add_stage(...)``, ``add_sink(...)``. Passing the class itself also works, but
        imports its module when the plugin loads; prefer the string.
    """


@hookspec
def conduix_pipeline_started(pipeline: str, run_id: str) -> None:
    """A pipeline run started, before its first record is read.

    Called in the process that runs the pipeline's threads: once for an in-process run, once in each
    worker process (slice) of a supervised run, and again when a worker is restarted.

    :param pipeline: The pipeline's name.
    :param run_id: The id of this run (of this worker's run, under supervision).
    """


@hookspec
def conduix_pipeline_stopped(pipeline: str, run_id: str, status: str, stats: dict[str, Any]) -> None:
    """A pipeline run ended, after its sinks flushed and its last checkpoint was written.

    Called where :func:`conduix_pipeline_started` was called for the same run. A hook that raises is
    logged and does not change the run's outcome.

    :param pipeline: The pipeline's name.
    :param run_id: The id of this run, as given to :func:`conduix_pipeline_started`.
    :param status: ``succeeded`` or ``failed``.
    :param stats: The run summary: ``{"pipeline", "run_id", "status", "error", "duration", "components":
        {id: counters}}``, the counters as in ``conduix run --json``.
    """


@hookspec
def conduix_batch_failed(pipeline: str, component: str, error: BaseException, records: int) -> None:
    """A component failed on a batch, and the failure ends the run (``on_error: stop``, or an error outside
    any record). Records that ``on_error: drop`` or ``dead_letter`` took care of do not call it.

    Called from the failing component's thread; a hook that raises is logged and ignored.

    :param pipeline: The pipeline's name.
    :param component: The id of the component that failed.
    :param error: The exception: a :class:`~conduix.errors.ComponentError` naming the record position where
        it is known.
    :param records: How many records the failed batch held, where the runtime knows it (a stage's batch);
        0 otherwise (a failure in ``open()``, a sink's write, a source's read).
    """
