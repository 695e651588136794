"""The contract between a worker actor and the work it runs (for example one pipeline slice)."""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from conduix.errors import SupervisionError
from conduix.supervision.spec import TaskSpec

__all__ = ["WorkerTask", "create_task"]


@runtime_checkable
class WorkerTask(Protocol):
    """Work a worker process runs in a background thread the task owns.

    The worker actor never runs the work itself: it polls the task every
    50-100 ms and answers control messages in between, so stop, pause and
    status stay responsive while records flow. Records never leave the task.
    """

    #: Set (by the task) when the work failed; the worker then reports the failure and exits.
    error: BaseException | None

    def start(self) -> None:
        """Start the work in a background thread and return at once."""

    def stop(self) -> None:
        """Ask the work to finish gracefully (write a final checkpoint); returns at once."""

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the work to end; True when it has ended."""

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot of the task's metrics (records in/out, position, lag, ...)."""


def create_task(spec: TaskSpec) -> WorkerTask:
    """Import ``spec.factory`` and call it with ``spec.kwargs``; check that the result is a task."""
    module_name, _, attr = spec.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SupervisionError(
            f"cannot import task factory {spec.factory!r}: {exc}; it must be importable in the worker "
            "process (installed, or on sys.path of the process that started the actor system)"
        ) from exc
    task = factory(**spec.kwargs)
    if not isinstance(task, WorkerTask):
        raise SupervisionError(
            f"task factory {spec.factory!r} returned {type(task).__name__}, which lacks the WorkerTask "
            "methods start/stop/join/status and the error attribute"
        )
    return task
