"""Helpers for plugin authors' tests: a list source, a collecting sink, run to completion.

    from conduix.testing import run_pipeline

    result = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"a": 1}]}},
        "transforms": {"t": {"type": "my_stage", "inputs": ["in"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["t"]}},
    })
    assert result.records("out") == [...]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import Field

from conduix.components import Batch, ComponentConfig, Context, Sink, Source
from conduix.config import PipelineSpec, pipeline_from_dict
from conduix.hookspecs import hookimpl
from conduix.plugins import get_plugin_host
from conduix.registry import ComponentRegistry
from conduix.runtime import PipelineRun, RunResult

__all__ = ["CollectSink", "ListSource", "TestRun", "run_pipeline", "test_registry"]


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


def test_registry(*plugins: ModuleType | object) -> ComponentRegistry:
    """The installed components plus ``list`` and ``collect`` plus ``plugins``."""
    return get_plugin_host([_TestPlugin(), *plugins]).registry


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


def run_pipeline(config: dict[str, Any] | PipelineSpec, *, plugins: tuple[ModuleType | object, ...] = (),
                 state_dir: str | Path | None = None, timeout: float = 60.0, raise_on_error: bool = True,
                 **run_options: Any) -> TestRun:
    """Validate and run a pipeline to completion; raises the run's error unless told not to."""
    spec = config if isinstance(config, PipelineSpec) else pipeline_from_dict(
        config, registry=test_registry(*plugins))
    if state_dir is None:
        import tempfile

        state_dir = tempfile.mkdtemp(prefix="conduix-test-")
    run = PipelineRun(spec, state_dir=state_dir, **run_options).start()
    if not run.join(timeout):
        run.abort("did not finish in time")
        run.join(10)
        print(f"pipeline still running after {timeout}s: {run.status()}", file=sys.stderr)
        raise TimeoutError(f"pipeline {spec.name!r} did not finish within {timeout}s")
    if raise_on_error:
        run.raise_for_error()
    assert run.result is not None
    return TestRun(run.result)
