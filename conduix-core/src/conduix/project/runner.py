"""Run a project standalone: roots first, child runs per parent record with a concurrency limit and
retries, until every run has ended."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from conduix.api import Pipeline
from conduix.builtins.trigger import parameters_from
from conduix.components import Batch, ComponentConfig, Sink
from conduix.config import ComponentSpec, PipelineSpec
from conduix.errors import ConduixError, ConfigError
from conduix.plugins import PluginHost, get_plugin_host
from conduix.project.model import ChildRequest, Project
from conduix.project.store import RunStore
from conduix.runtime import PipelineRun

__all__ = ["CHILDREN_SINK", "ProjectRunner", "add_children_sink"]

logger = logging.getLogger(__name__)

CHILDREN_SINK = "__children__"


class _ChildrenSink(Sink[ComponentConfig]):
    """Inserted into a parent pipeline: hands each delivered record to the project runner."""

    Config = ComponentConfig

    def write(self, batch: Batch) -> None:
        self.context.services["parent_records"](batch.records)


def add_children_sink(spec: PipelineSpec) -> None:
    """Add the sink that hands every record the pipeline delivers to the ``parent_records`` service
    (which starts the child runs of pipelines declaring this one their ``parent:``)."""
    spec.components[CHILDREN_SINK] = ComponentSpec(CHILDREN_SINK, "sink", "_children", _ChildrenSink,
                                                   ComponentConfig(), inputs=list(spec.data_inputs()),
                                                   path=CHILDREN_SINK)


class ProjectRunner:
    """Runs a project's pipelines; :meth:`run` blocks until every run ended and says if all succeeded."""

    def __init__(self, project: Project, *, state_dir: str | Path, host: PluginHost | None = None,
                 concurrency: int | None = None) -> None:
        self.project = project
        self.state_dir = Path(state_dir)
        self.host = host or get_plugin_host()
        self.store = RunStore(self.state_dir)
        self.concurrency = concurrency or project.concurrency
        self._lock = threading.Condition()
        self._queue: deque[tuple[str, ChildRequest, int]] = deque()  # (run id, request, attempt)
        self._active: dict[str, int] = {}  # pipeline -> running child runs
        self._running = 0
        self._delayed = 0
        self._threads: list[threading.Thread] = []
        self.failed: list[str] = []
        self.stopping = False
        self._live: dict[str, PipelineRun] = {}

    # -- entry points --------------------------------------------------------------------------
    def run(self, roots: list[ChildRequest] | None = None) -> bool:
        """Run ``roots`` (default: every root pipeline with no parameters) and all they trigger."""
        requests = roots if roots is not None else [ChildRequest(name, {}) for name in self.project.roots()]
        for request in requests:
            self.submit(request)
        with self._lock:
            while self._queue or self._running or self._delayed:
                self._start_ready()
                self._lock.wait(0.1)
        for thread in self._threads:
            thread.join()
        return not self.failed

    def retry(self, run_id: str) -> bool:
        """Run a recorded run again with the same parameters (its children follow as usual)."""
        record = self.store.get(run_id)
        if record.pipeline not in self.project.pipelines:
            raise ConfigError(f"run {run_id} is of pipeline {record.pipeline!r}, which is not in this project")
        with self._lock:
            self._queue.append((run_id, ChildRequest(record.pipeline, record.parameters, record.parent_run),
                                record.attempt + 1))
        return self.run([])

    def submit(self, request: ChildRequest) -> str:
        run_id = self.store.create(request.pipeline, request.parameters, parent_run=request.parent_run,
                                   project=str(self.project.root))
        with self._lock:
            self._queue.append((run_id, request, 1))
            self._lock.notify_all()
        return run_id

    def stop(self) -> None:
        """Start nothing new and stop the running runs gracefully (for streaming projects, Ctrl-C)."""
        with self._lock:
            self.stopping = True
            self._queue.clear()
            live = list(self._live.values())
            self._lock.notify_all()
        for run in live:
            run.stop()

    # -- scheduling ------------------------------------------------------------------------------
    def _limit(self, pipeline: str) -> int:
        spec = self.project.pipelines[pipeline]
        return spec.child.concurrency if self.project.parent_of(pipeline) else self.concurrency

    def _start_ready(self) -> None:
        """With the lock held: start queued runs while the global and per-pipeline limits allow."""
        skipped: deque[tuple[str, ChildRequest, int]] = deque()
        while self._queue and self._running < self.concurrency:
            item = self._queue.popleft()
            pipeline = item[1].pipeline
            if self._active.get(pipeline, 0) >= self._limit(pipeline):
                skipped.append(item)
                continue
            self._active[pipeline] = self._active.get(pipeline, 0) + 1
            self._running += 1
            thread = threading.Thread(target=self._execute, args=item, name=f"conduix-project-{item[0]}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        self._queue.extendleft(reversed(skipped))

    def _finished(self, pipeline: str) -> None:
        with self._lock:
            self._active[pipeline] -= 1
            self._running -= 1
            self._lock.notify_all()

    # -- one run --------------------------------------------------------------------------------
    def _pipeline_for(self, request: ChildRequest) -> Pipeline:
        template = self.project.pipelines[request.pipeline]
        assert template.text is not None
        pipeline = Pipeline.from_text(template.text, file=template.file, host=self.host, name=template.name,
                                      params=request.parameters)
        if self.project.record_children(request.pipeline):
            add_children_sink(pipeline.spec)
        return pipeline

    def _execute(self, run_id: str, request: ChildRequest, attempt: int) -> None:
        pipeline = request.pipeline
        spec_template = self.project.pipelines[pipeline]
        pending_children: list[dict[str, Any]] = []
        children = self.project.record_children(pipeline)
        streaming = {c for c in children if self.project.pipelines[c].child.start == "streaming"}
        later = [c for c in children if c not in streaming]

        def parent_records(records: list[dict[str, Any]]) -> None:
            for record in records:
                for child in streaming:
                    self.submit(self._child_request(child, record, run_id))
                if later:
                    pending_children.append(record)

        def request_child(child: str, parameters: dict[str, Any]) -> None:
            self.submit(ChildRequest(child, parameters, run_id))

        status, error, records_in, records_out, errors = "failed", None, 0, 0, {}
        self.store.started(run_id, attempt)
        try:
            # a child run is retried whole: it keeps no position of its own
            keeps_position = request.parent_run is None and not request.parameters
            run = self._pipeline_for(request).create_run(
                state_dir=self.state_dir, parameters=request.parameters, run_id=run_id, checkpoints=keeps_position,
                services={"parent_records": parent_records, "request_child": request_child})
            with self._lock:
                if self.stopping:
                    raise ConduixError("the project is stopping")
                self._live[run_id] = run
            run.start()
            run.join()
            with self._lock:
                self._live.pop(run_id, None)
            assert run.result is not None
            stats = run.result.stats
            records_in = sum(s.records_in for s in stats.values() if s.kind == "source")
            records_out = sum(s.records_out for cid, s in stats.items() if s.kind == "sink" and cid != CHILDREN_SINK)
            errors = run.result.errors
            if run.result.ok:
                status = "succeeded"
            else:
                error = str(run.result.error)
        except ConduixError as exc:
            error = str(exc)
        except Exception as exc:  # a bug in a component: record it, keep the project going
            logger.exception("run %s of %s raised", run_id, pipeline)
            error = f"{type(exc).__name__}: {exc}"
        retries = spec_template.child.retries if request.parent_run is not None else 0
        if status == "failed" and attempt <= retries and not self.stopping:
            delay = spec_template.child.retry_delay * (2 ** (attempt - 1))
            logger.warning("run %s of %s failed (attempt %d), retrying in %.1fs: %s", run_id, pipeline, attempt,
                           delay, error)
            self.store.ended(run_id, "retrying", records_in=records_in, records_out=records_out, error=error,
                             errors=errors)
            self._retry_later(run_id, request, attempt + 1, delay)
        else:
            self.store.ended(run_id, status, records_in=records_in, records_out=records_out, error=error,
                             errors=errors)
            if status == "failed":
                logger.error("run %s of %s failed: %s", run_id, pipeline, error)
                self.failed.append(run_id)
            else:
                for record in pending_children:
                    for child in later:
                        self.submit(self._child_request(child, record, run_id))
        self._finished(pipeline)

    def _retry_later(self, run_id: str, request: ChildRequest, attempt: int, delay: float) -> None:
        with self._lock:
            self._delayed += 1

        def requeue() -> None:
            time.sleep(delay)
            with self._lock:
                self._delayed -= 1
                if not self.stopping:
                    self._queue.append((run_id, request, attempt))
                self._lock.notify_all()

        threading.Thread(target=requeue, daemon=True).start()

    def _child_request(self, child: str, record: dict[str, Any], parent_run: str) -> ChildRequest:
        return ChildRequest(child, parameters_from(record, self.project.pipelines[child].child.parameters),
                            parent_run)
