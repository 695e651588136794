"""Helpers for plugin authors' tests: a list source, a collecting sink, run to completion.

    from conduix.testing import run_pipeline

    result = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"a": 1}]}},
        "transforms": {"t": {"type": "my_stage", "inputs": ["in"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["t"]}},
    })
    assert result.records("out") == [...]

For pipelines that run in the background (a server source, a run you stop), wait for what must happen with
:func:`eventually` (poll with a deadline) instead of sleeping a fixed time and then asserting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from pydantic import Field

from conduix.api import Pipeline
from conduix.components import Batch, ComponentConfig, Context, Sink, Source
from conduix.config import PipelineSpec
from conduix.hookspecs import hookimpl
from conduix.plugins import PluginHost, get_plugin_host
from conduix.registry import ComponentRegistry
from conduix.runtime import RunResult

__all__ = ["CollectSink", "ListSource", "TestRun", "eventually", "run_pipeline", "test_host", "test_registry"]

T = TypeVar("T")


class ListSourceConfig(ComponentConfig):
    records: list[dict[str, Any]] = Field(default_factory=list)
    batch_size: int | None = Field(None, ge=1, description="Records per batch (default: the pipeline's).")


class ListSource(Source[ListSourceConfig]):
    """Emits the given records in batches; positions are (first, end) indices."""

    Config = ListSourceConfig

    def __init__(self, config: ListSourceConfig, context: Context) -> None:
        super().__init__(config, context)
        self.index = 0
        self.acknowledged: list[tuple[int, int]] = []

    def read(self, max_records: int) -> Batch | None:
        records = self.config.records
        if self.index >= len(records):
            return None
        size = min(max_records, self.config.batch_size or max_records)
        start, self.index = self.index, min(self.index + size, len(records))
        chunk = [dict(r) for r in records[start:self.index]]
        meta = [{"source": self.id, "offset": i} for i in range(start, self.index)]
        return Batch(chunk, meta, position=(start, self.index))

    def acknowledge(self, position: Any) -> None:
        self.acknowledged.append(position)


class CollectSinkConfig(ComponentConfig):
    fail_on: int | None = Field(None, description="Raise on the Nth batch (1-based), to test failures.")


class CollectSink(Sink[CollectSinkConfig]):
    """Keeps every record (and its metadata) it was given."""

    Config = CollectSinkConfig

    def __init__(self, config: CollectSinkConfig, context: Context) -> None:
        super().__init__(config, context)
        self.records: list[dict[str, Any]] = []
        self.meta: list[dict[str, Any]] = []
        self.batches = 0
        self.flushed = False

    def write(self, batch: Batch) -> None:
        self.batches += 1
        if self.config.fail_on == self.batches:
            raise RuntimeError(f"collect sink told to fail on batch {self.batches}")
        self.records.extend(batch.records)
        self.meta.extend(batch.meta_at(i) for i in range(len(batch.records)))

    def flush(self) -> None:
        self.flushed = True


class _TestPlugin:
    @hookimpl
    def conduix_register_components(self, registry: ComponentRegistry) -> None:
        registry.add_source("list", ListSource)
        registry.add_sink("collect", CollectSink)


def test_host(*plugins: ModuleType | object) -> PluginHost:
    """The installed plugins plus ``list`` and ``collect`` plus ``plugins``."""
    return get_plugin_host([_TestPlugin(), *plugins])


def test_registry(*plugins: ModuleType | object) -> ComponentRegistry:
    """The installed components plus ``list`` and ``collect`` plus ``plugins``."""
    return test_host(*plugins).registry


test_host.__test__ = False  # type: ignore[attr-defined]
test_registry.__test__ = False  # type: ignore[attr-defined]


@dataclass
class TestRun:
    """What :func:`run_pipeline` returns: the run's result and its component instances."""

    __test__ = False
    result: RunResult

    def records(self, sink_id: str) -> list[dict[str, Any]]:
        return self.result.components[sink_id].records  # type: ignore[no-any-return,unused-ignore]

    def component(self, component_id: str) -> Any:
        return self.result.components[component_id]

    @property
    def ok(self) -> bool:
        return self.result.ok


def run_pipeline(config: dict[str, Any] | PipelineSpec | Pipeline, *, plugins: tuple[ModuleType | object, ...] = (),
                 state_dir: str | Path | None = None, timeout: float = 60.0, raise_on_error: bool = True,
                 checkpoints: Any = False, **run_options: Any) -> TestRun:
    """Validate and run a pipeline in-process to completion; raises the run's error unless told not to.

    The run keeps no checkpoint unless ``checkpoints=True`` (or a store); ``run_options`` are those of
    :meth:`conduix.Pipeline.start` (``parameters``, ``services``, ...).
    """
    if isinstance(config, Pipeline):
        pipeline = config
    elif isinstance(config, PipelineSpec):
        pipeline = Pipeline(config, test_host(*plugins))
    else:
        pipeline = Pipeline.from_dict(config, host=test_host(*plugins))
    spec = pipeline.spec
    if state_dir is None:
        import tempfile

        state_dir = tempfile.mkdtemp(prefix="conduix-test-")
    run = pipeline.create_run(state_dir=state_dir, checkpoints=checkpoints, **run_options).start()
    if not run.join(timeout):
        run.abort("did not finish in time")
        run.join(10)
        print(f"pipeline still running after {timeout}s: {run.status()}", file=sys.stderr)
        raise TimeoutError(f"pipeline {spec.name!r} did not finish within {timeout}s")
    if raise_on_error:
        run.raise_for_error()
    assert run.result is not None
    return TestRun(run.result)


def eventually(check: Callable[[], T], timeout: float = 30.0, what: str | Callable[[], str] = "", *,
               interval: float = 0.05, ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``check`` until it returns something truthy, and return that; fail after ``timeout`` seconds.

    The way to wait in a test for something to happen (records arrived, a server listens, a worker
    restarted): it returns as soon as it has happened, however fast or loaded the machine, and fails with
    ``what`` (a string, or a function giving one, such as a log tail) and the last value seen when it never
    does. ``check`` may also raise ``AssertionError`` (or one of ``ignore``, such as a connection error
    while a server starts) to mean "not yet"; the last one is chained to the failure. Any other exception
    fails at once.
    """
    if not isinstance(timeout, (int, float)):
        raise TypeError(f"eventually(check, timeout, what): timeout is a number of seconds, not {timeout!r}")
    deadline = time.monotonic() + timeout
    not_yet: tuple[type[BaseException], ...] = (AssertionError, *ignore)
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last, error = check(), None
        except not_yet as exc:
            last, error = None, exc
        if last and error is None:
            return last
        if time.monotonic() >= deadline:
            text = what() if callable(what) else what
            seen = f"{type(error).__name__}: {error}" if error is not None else repr(last)
            raise AssertionError(f"not true within {timeout:g} s: {text or _describe(check)} (last: {seen})") \
                from error
        time.sleep(interval)


def _describe(check: Callable[..., Any]) -> str:
    code = getattr(check, "__code__", None)
    name = getattr(check, "__qualname__", repr(check))
    return f"{name} ({code.co_filename}:{code.co_firstlineno})" if code is not None else name
