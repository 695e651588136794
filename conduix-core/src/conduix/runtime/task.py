"""One slice of a pipeline as a supervised worker's task: the whole chain, in batches, in one process.

The worker actor (conduix.supervision) builds it from plain data in its own
process with :func:`pipeline_task`; records stay inside the task, only control
and status snapshots cross the actor boundary. An in-process
:class:`~conduix.runtime.PipelineRun` does the work; :class:`PipelineTask` hands
the worker its ``start``, ``stop``, ``join``, ``status`` and ``error``, and adds
the run's metrics (Prometheus text of a telemetry of its own) to its status,
which the supervised run serves.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from conduix.runtime.runner import PipelineRun

if TYPE_CHECKING:
    from conduix.observability.telemetry import Telemetry

__all__ = ["PipelineTask", "pipeline_task"]

#: a worker's status is asked for several times a second; its metrics text is made at most this often
METRICS_EVERY = 1.0


class PipelineTask:
    """A worker's task: one in-process run, its status carrying the run's metrics (``"metrics"``: Prometheus
    text of a telemetry of its own, so histograms, lag and checkpoint failures reach the supervised run)."""

    def __init__(self, run: PipelineRun, telemetry: Telemetry) -> None:
        self.run = run
        self.telemetry = telemetry
        self._metrics = ""
        self._metrics_at = float("-inf")
        self._final: str | None = None
        self._lag: dict[str, int] = {}  # per source, summed over its partitions (read with the metrics)
        run.on_done(self._finish)

    def _finish(self) -> None:
        """The last metrics, read before the telemetry shuts down (a last OTLP export)."""
        self._final = self.run.metrics_text().decode()
        self.telemetry.shutdown()

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
        now = time.monotonic()
        if self._final is not None:
            self._metrics = self._final
        elif now - self._metrics_at >= METRICS_EVERY:
            self._metrics, self._metrics_at = self.run.metrics_text().decode(), now
            self._lag = {cid: int(sum(lag.values())) for cid, node in self.run.nodes.items()
                         if (lag := node.lag()) is not None}
        status = self.run.status()
        for cid, behind in self._lag.items():
            status["components"][cid]["lag"] = behind
        return {**status, "metrics": self._metrics}


def pipeline_task(*, text: str, file: str | None, name: str, state_dir: str, worker_id: str,
                  sources: list[str] | None = None, slice_index: int = 0, slice_count: int = 1,
                  parameters: dict[str, Any] | None = None, slice_params: dict[str, Any] | None = None,
                  components: dict[str, str] | None = None, store: dict[str, Any] | None = None,
                  checkpoint_id: str | None = None) -> PipelineTask:
    """Build the task of one worker: the pipeline (or the part fed by ``sources``), slice ``slice_index``
    of ``slice_count``, checkpointed under ``checkpoint_id`` (its own) so a restarted worker resumes where it was;
    ``components`` are the ``module:attribute`` of components given in Python; ``store`` the fields of a
    :class:`~conduix.checkpoint.StoreOpener` (default: the store the pipeline's settings name)."""
    from conduix.api import Pipeline
    from conduix.checkpoint import StoreOpener
    from conduix.observability.telemetry import Telemetry

    pipeline = Pipeline.from_text(text, file=file, name=name, params=parameters or {}, components=components)
    if sources is not None:
        pipeline = pipeline.subset(sources)
    telemetry = Telemetry(pipeline.spec.settings.telemetry)
    run = pipeline.create_run(state_dir=state_dir, parameters=parameters, slice_index=slice_index,
                              slice_count=slice_count, slice_params=slice_params, telemetry=telemetry,
                              checkpoints=StoreOpener(**store) if store else True,
                              checkpoint_id=checkpoint_id or f"{name}.{worker_id}")
    return PipelineTask(run, telemetry)
