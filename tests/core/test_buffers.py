"""Sink buffers: memory with block / drop_newest, and the disk buffer that survives restarts."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conduix import Batch, ComponentConfig, Pipeline, Sink, hookimpl
from conduix.config import load_pipeline_text, pipeline_from_dict
from conduix.errors import ConfigError, RetryableError
from conduix.testing import eventually, test_registry

SERVER_UP = threading.Event()
WRITTEN: list[int] = []


class RemoteConfig(ComponentConfig):
    delay: float = 0.0


class Remote(Sink[RemoteConfig]):
    """Stands for a server that can be down: raises RetryableError while SERVER_UP is clear."""

    Config = RemoteConfig

    def write(self, batch: Batch) -> None:
        if not SERVER_UP.is_set():
            raise RetryableError("connection refused")
        time.sleep(self.config.delay)
        WRITTEN.extend(r["seq"] for r in batch.records)


class Plugin:
    @hookimpl
    def conduix_register_components(self, registry):
        registry.add_sink("remote", Remote)


@pytest.fixture(autouse=True)
def _reset():
    SERVER_UP.set()
    WRITTEN.clear()
    yield
    SERVER_UP.set()


def pipeline(sink: dict[str, Any], source: dict[str, Any] | None = None, **settings: Any) -> Pipeline:
    return Pipeline(pipeline_from_dict({
        "name": "buffered",
        "settings": {"batch_size": 10, "checkpoint": {"interval": 0.05}, **settings},
        "sources": {"gen": source or {"type": "generate", "count": 200, "resume": True}},
        "sinks": {"out": {"type": "remote", "inputs": ["gen"], "retry": {"initial": 0.01, "max": 0.05}, **sink}},
    }, registry=test_registry(Plugin())))


def test_memory_drop_newest_drops_counts_and_acknowledges(tmp_path):
    p = pipeline({"delay": 0.01, "buffer": {"max_batches": 1, "when_full": "drop_newest"}})
    result = p.run(state_dir=tmp_path, handle_signals=False)
    assert result.ok
    dropped = result.stats["out"].dropped
    assert dropped > 0 and len(WRITTEN) + dropped == 200
    assert WRITTEN == sorted(WRITTEN)
    assert result.components["gen"].checkpoint() == {"sequence": 200}


def test_memory_block_slows_the_source_and_loses_nothing(tmp_path):
    result = pipeline({"delay": 0.002, "buffer": {"max_batches": 1}}).run(state_dir=tmp_path,
                                                                         handle_signals=False)
    assert result.ok and WRITTEN == list(range(200))


def test_disk_buffer_acknowledges_while_the_server_is_down_then_drains_in_order(tmp_path):
    SERVER_UP.clear()
    run = pipeline({"buffer": {"type": "disk"}}).start(state_dir=tmp_path)
    eventually(lambda: run.stats()["gen"].acknowledged == 20, 20, "all 200 records safe on disk")
    assert WRITTEN == []
    assert run.stats()["out"].buffered == 20
    SERVER_UP.set()
    assert run.join(20)
    assert run.result is not None and run.result.ok
    assert WRITTEN == list(range(200))
    assert run.result.stats["out"].buffered == 0


def test_disk_buffer_survives_a_restart_while_the_server_is_down(tmp_path):
    SERVER_UP.clear()
    first = pipeline({"buffer": {"type": "disk"}}).start(state_dir=tmp_path)
    eventually(lambda: first.stats()["gen"].acknowledged == 20, 20, "all 200 records safe on disk")
    first.stop()  # graceful stop while the server is still down: the buffer stays on disk
    assert first.join(20)
    assert first.result is not None and first.result.ok, first.result.error
    assert WRITTEN == [] and (tmp_path / "buffers" / "buffered" / "out.sqlite").exists()
    SERVER_UP.set()
    second = pipeline({"buffer": {"type": "disk"}}).run(state_dir=tmp_path, handle_signals=False)
    assert second.ok
    assert second.stats["gen"].records_in == 0  # the source resumed past what the buffer held
    assert WRITTEN == list(range(200))


def test_buffer_is_a_sink_setting_and_is_validated():
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("sources: {g: {type: generate, buffer: {type: disk}}}\n"
                           "sinks: {o: {type: blackhole, inputs: [g]}}\n", registry=test_registry())
    assert "'buffer' is a sink setting" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("sources: {g: {type: generate}}\n"
                           "sinks: {o: {type: blackhole, inputs: [g], buffer: {type: dsk}}}\n",
                           registry=test_registry())
    assert "sinks.o.buffer.type" in str(info.value) and "did you mean 'disk'" in str(info.value)


def test_a_graceful_stop_that_cannot_drain_is_aborted_after_the_shutdown_timeout(tmp_path):
    SERVER_UP.clear()
    run = pipeline({}, source={"type": "generate", "rate": 500}, shutdown_timeout=0.5).start(state_dir=tmp_path)
    eventually(lambda: run.stats()["out"].retries > 0, 20, "the sink to fail and retry")  # records in flight
    run.stop()
    assert run.join(20)
    assert run.result is not None and not run.result.ok
    assert "did not drain within shutdown_timeout" in str(run.result.error)


def test_exactly_once_refuses_a_disk_buffer():
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("delivery: exactly_once\nsources: {g: {type: generate}}\n"
                           "sinks: {o: {type: blackhole, inputs: [g], buffer: {type: disk}}}\n",
                           registry=test_registry())
    assert "breaks exactly-once" in str(info.value) and "sinks.o.buffer" in str(info.value)
