"""One slice of a pipeline as a supervised worker's task: the whole chain, in batches, in one process.

The worker actor (conduix.supervision) builds it from plain data in its own
process with :func:`pipeline_task`; records stay inside the task, only control
and status snapshots cross the actor boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conduix.runtime.runner import PipelineRun

__all__ = ["PipelineTask", "pipeline_task"]


class PipelineTask:
    """Runs one slice: :class:`PipelineRun` behind the WorkerTask protocol."""

    def __init__(self, run: PipelineRun) -> None:
        self.run = run

    @property
    def error(self) -> BaseException | None:
        return self.run.error

    def start(self) -> None:
        self.run.start()

    def stop(self) -> None:
        self.run.stop()

    def join(self, timeout: float) -> bool:
        return self.run.join(timeout)

    def status(self) -> dict[str, Any]:
        return self.run.status()


def pipeline_task(*, text: str, file: str | None, name: str, state_dir: str, worker_id: str,
                  sources: list[str] | None = None, slice_index: int = 0, slice_count: int = 1,
                  parameters: dict[str, Any] | None = None, slice_params: dict[str, Any] | None = None) -> PipelineTask:
    """Build the task of one worker: the pipeline (or the part fed by ``sources``), slice ``slice_index``
    of ``slice_count``, checkpointed under its own id so a restarted worker resumes where it was."""
    from conduix.checkpoint import open_store
    from conduix.config import load_pipeline_text
    from conduix.plugins import get_plugin_host

    host = get_plugin_host()
    spec = load_pipeline_text(text, file=file, registry=host.registry, default_name=name, params=parameters or {})
    if sources is not None:
        spec = spec.subset(sources)
    store = open_store(spec.settings.checkpoint.store, Path(state_dir))
    checkpoint_id = name if worker_id == "worker" else f"{name}.{worker_id}"
    run = PipelineRun(spec, state_dir=state_dir, parameters=parameters, hooks=host.manager, checkpoints=store,
                      checkpoint_id=checkpoint_id, slice_index=slice_index, slice_count=slice_count,
                      slice_params=slice_params)
    return PipelineTask(run)
