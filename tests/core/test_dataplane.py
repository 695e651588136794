"""The batch data plane: acknowledgements, backpressure, fan-out/fan-in, shutdown, failures."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pydantic import Field

from conduix import Batch, ComponentConfig, Emit, Pipeline, Sink, Stage, hookimpl
from conduix.config import pipeline_from_dict
from conduix.errors import ComponentError
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry

GATE = threading.Event()  # opened by the test
WAITING = threading.Event()  # set when a sink starts waiting for GATE


def close_gate() -> None:
    GATE.clear()
    WAITING.clear()


class SlowSinkConfig(ComponentConfig):
    delay: float = 0.0
    wait_for_gate: bool = False
    gate_after: int = Field(0, description="With wait_for_gate: write this many records before waiting.")


class SlowSink(Sink[SlowSinkConfig]):
    Config = SlowSinkConfig

    def __init__(self, config: SlowSinkConfig, context: Any) -> None:
        super().__init__(config, context)
        self.records: list[dict[str, Any]] = []

    def write(self, batch: Batch) -> None:
        if self.config.wait_for_gate and len(self.records) >= self.config.gate_after and not GATE.is_set():
            WAITING.set()
            GATE.wait(30)
        time.sleep(self.config.delay)
        self.records.extend(batch.records)


class MutateConfig(ComponentConfig):
    field: str = "x"
    drop_all: bool = False
    fail_on_seq: int | None = Field(None)


class Mutate(Stage[MutateConfig]):
    Config = MutateConfig

    def process(self, batch: Batch, emit: Emit) -> None:
        if self.config.drop_all:
            return
        for record in batch.records:
            if record.get("seq") == self.config.fail_on_seq:
                raise ValueError("bad record")
            record[self.config.field] = True
            record.setdefault("nested", {})[self.config.field] = True
        emit(batch)


class Plugin:
    @hookimpl
    def conduix_register_components(self, registry):
        registry.add_sink("slow", SlowSink)
        registry.add_stage("mutate", Mutate)


def records(n: int) -> list[dict[str, Any]]:
    return [{"seq": i} for i in range(n)]


def test_every_source_batch_is_acknowledged_once_written():
    run = run_pipeline({
        "settings": {"batch_size": 7},
        "sources": {"in": {"type": "list", "records": records(100)}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}},
    })
    assert [r["seq"] for r in run.records("out")] == list(range(100))
    acked = sorted(run.component("in").acknowledged)
    assert acked[0] == (0, 7) and acked[-1] == (98, 100) and len(acked) == 15
    assert run.component("out").flushed


def test_records_dropped_on_purpose_are_acknowledged():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": records(10), "batch_size": 5}},
        "transforms": {"drop": {"type": "mutate", "inputs": ["in"], "drop_all": True}},
        "sinks": {"out": {"type": "collect", "inputs": ["drop"]}},
    }, plugins=(Plugin(),))
    assert run.records("out") == []
    assert sorted(run.component("in").acknowledged) == [(0, 5), (5, 10)]


def test_fan_out_gives_each_branch_its_own_records_and_fan_in_merges():
    run = run_pipeline({
        "sources": {"a": {"type": "list", "records": records(20), "batch_size": 3},
                    "b": {"type": "list", "records": [{"seq": 100 + i} for i in range(5)]}},
        "transforms": {"left": {"type": "mutate", "inputs": ["a"], "field": "left"},
                       "right": {"type": "mutate", "inputs": ["a", "b"], "field": "right"}},
        "sinks": {"l": {"type": "collect", "inputs": ["left"]},
                  "r": {"type": "collect", "inputs": ["right"]}},
    }, plugins=(Plugin(),))
    left, right = run.records("l"), run.records("r")
    assert len(left) == 20 and len(right) == 25
    assert all("right" not in r and "right" not in r["nested"] for r in left)
    assert all("left" not in r and "left" not in r["nested"] for r in right)
    assert sorted(r["seq"] for r in right) == [*range(20), *range(100, 105)]


def test_source_acknowledgement_waits_for_the_sink(tmp_path):
    close_gate()
    spec = pipeline_from_dict({
        "sources": {"in": {"type": "list", "records": records(10), "batch_size": 5}},
        "sinks": {"out": {"type": "slow", "inputs": ["in"], "wait_for_gate": True}},
    }, registry=test_registry(Plugin()))
    run = PipelineRun(spec, state_dir=tmp_path).start()
    try:
        eventually(lambda: WAITING.is_set() and run.stats()["in"].records_in == 10, 10,
                   "all 10 records read and the sink waiting")
        assert run.nodes["in"].component.acknowledged == []
    finally:
        GATE.set()
    assert run.join(10)
    assert sorted(run.nodes["in"].component.acknowledged) == [(0, 5), (5, 10)]


def test_backpressure_bounds_what_is_in_flight(tmp_path):
    spec = pipeline_from_dict({
        "settings": {"batch_size": 100, "queue_size": 2},
        "sources": {"gen": {"type": "generate"}},
        "sinks": {"out": {"type": "slow", "inputs": ["gen"], "delay": 0.02}},
    }, registry=test_registry(Plugin()))
    run = PipelineRun(spec, state_dir=tmp_path).start()
    try:
        peak = 0
        for _ in range(20):
            time.sleep(0.05)
            stats = run.stats()
            peak = max(peak, stats["gen"].records_in - stats["out"].records_in)
        # queue of 2 batches + one being written + one being handed over by the source
        assert peak <= 4 * 100
        eventually(lambda: run.stats()["out"].records_in > 0, 20, "records written")
    finally:
        run.stop()
        assert run.join(10)
    assert run.result is not None and run.result.ok


def test_graceful_stop_drains_everything_read(tmp_path):
    spec = pipeline_from_dict({
        "settings": {"batch_size": 50},
        "sources": {"gen": {"type": "generate", "rate": 5000}},
        "sinks": {"out": {"type": "slow", "inputs": ["gen"], "delay": 0.005}},
    }, registry=test_registry(Plugin()))
    run = PipelineRun(spec, state_dir=tmp_path).start()
    eventually(lambda: run.stats()["out"].records_in > 0, 20, "records written")
    run.stop()
    assert run.join(10)
    result = run.result
    assert result is not None and result.ok
    written = result.components["out"].records
    assert len(written) == result.stats["gen"].records_in > 0
    assert [r["seq"] for r in written] == list(range(len(written)))
    assert result.components["gen"].checkpoint() == {"sequence": len(written)}


def test_a_failing_stage_stops_the_run_naming_component_and_position():
    with pytest.raises(ComponentError) as info:
        run_pipeline({
            "sources": {"in": {"type": "list", "records": records(10)}},
            "transforms": {"boom": {"type": "mutate", "inputs": ["in"], "fail_on_seq": 4}},
            "sinks": {"out": {"type": "collect", "inputs": ["boom"]}},
        }, plugins=(Plugin(),))
    assert info.value.component == "boom"
    assert "stage 'boom' failed" in str(info.value)
    assert "(0, 10)" in str(info.value) and "bad record" in str(info.value)


def test_python_stage_error_names_the_record_position(tmp_path, monkeypatch):
    (tmp_path / "udf_mod.py").write_text(
        "def f(record):\n    if record['seq'] == 3:\n        raise KeyError('missing')\n    return record\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ComponentError) as info:
        run_pipeline({
            "sources": {"in": {"type": "list", "records": records(10)}},
            "transforms": {"udf": {"type": "python", "inputs": ["in"], "function": "udf_mod:f"}},
            "sinks": {"out": {"type": "collect", "inputs": ["udf"]}},
        })
    assert "stage 'udf' failed on the record at offset 3" in str(info.value)


def test_a_failing_sink_fails_the_run_and_nothing_after_is_acknowledged():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": records(30), "batch_size": 10}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"], "fail_on": 2}},
    }, raise_on_error=False)
    assert not run.ok
    assert "sink 'out' failed" in str(run.result.error)
    assert run.component("in").acknowledged == [(0, 10)]


def test_lifecycle_hooks_see_start_stop_and_failures():
    seen: list[tuple[str, Any]] = []

    class Observer:
        @hookimpl
        def conduix_pipeline_started(self, pipeline, run_id):
            seen.append(("started", pipeline))

        @hookimpl
        def conduix_pipeline_stopped(self, pipeline, run_id, status, stats):
            seen.append(("stopped", status))

        @hookimpl
        def conduix_batch_failed(self, pipeline, component, error, records):
            seen.append(("failed", (component, records)))

    from conduix.plugins import get_plugin_host
    from conduix.testing import _TestPlugin

    host = get_plugin_host([_TestPlugin(), Plugin(), Observer()])
    pipeline = Pipeline.from_dict({
        "name": "hooked",
        "sources": {"in": {"type": "list", "records": records(5)}},
        "transforms": {"boom": {"type": "mutate", "inputs": ["in"], "fail_on_seq": 1}},
        "sinks": {"out": {"type": "collect", "inputs": ["boom"]}},
    }, host=host)
    result = pipeline.run(handle_signals=False)
    assert not result.ok
    assert seen == [("started", "hooked"), ("failed", ("boom", 5)), ("stopped", "failed")]


def test_checkpoint_resumes_where_the_last_run_stopped(tmp_path):
    close_gate()
    config = {
        "name": "resumable",
        "settings": {"batch_size": 10, "queue_size": 2, "checkpoint": {"interval": 0.05}},
        "sources": {"gen": {"type": "generate", "count": 500, "resume": True}},
        # the first run stops while the sink waits after 50 records: backpressure holds the source far from 500
        "sinks": {"out": {"type": "slow", "inputs": ["gen"], "wait_for_gate": True, "gate_after": 50}},
    }
    host_pipeline = Pipeline(pipeline_from_dict(config, registry=test_registry(Plugin())))
    first = host_pipeline.start(state_dir=tmp_path)
    try:
        eventually(WAITING.is_set, 20, "the sink to write 50 records and wait")
        first.stop()
    finally:
        GATE.set()
    assert first.join(10)
    seen_first = [r["seq"] for r in first.result.components["out"].records]
    assert 0 < len(seen_first) < 500
    second = host_pipeline.run(state_dir=tmp_path, handle_signals=False)
    seen_second = [r["seq"] for r in second.components["out"].records]
    assert seen_first + seen_second == list(range(500))


class Window(Stage[ComponentConfig]):
    """Keeps every record until the end of input, holding their acknowledgements."""

    Config = ComponentConfig

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        self.kept: list[dict[str, Any]] = []
        self.held: list[Any] = []

    def process(self, batch: Batch, emit: Emit) -> None:
        self.kept.extend(batch.records)
        self.held.extend(batch.hold())

    def finish(self, emit: Emit) -> None:
        from conduix.components import release

        emit(Batch([{"count": len(self.kept)}], acks=self.held))
        release(self.held)


def test_held_batches_are_acknowledged_only_when_what_holds_them_is_written(tmp_path):
    close_gate()

    class P:
        @hookimpl
        def conduix_register_components(self, registry):
            registry.add_stage("window", Window)
            registry.add_sink("slow", SlowSink)

    spec = pipeline_from_dict({
        "sources": {"in": {"type": "list", "records": records(10), "batch_size": 5}},
        "transforms": {"w": {"type": "window", "inputs": ["in"]}},
        "sinks": {"out": {"type": "slow", "inputs": ["w"], "wait_for_gate": True}},
    }, registry=test_registry(P()))
    run = PipelineRun(spec, state_dir=tmp_path).start()
    try:
        eventually(WAITING.is_set, 10, "the window's output at the sink")
        assert run.nodes["in"].component.acknowledged == []  # held by the window, then by the slow sink
    finally:
        GATE.set()
    assert run.join(10)
    assert sorted(run.nodes["in"].component.acknowledged) == [(0, 5), (5, 10)]
    assert run.nodes["out"].component.records == [{"count": 10}]


class Deferred(Sink[ComponentConfig]):
    """Acknowledges a batch only on the next tick, like an object store closing an object by time."""

    Config = ComponentConfig
    tick_interval = 0.05

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        self.held: list[Any] = []
        self.ticks = 0

    def write(self, batch: Batch) -> None:
        self.held.extend(batch.hold())

    def tick(self) -> None:
        self.ticks += 1
        self.flush()

    def flush(self) -> None:
        from conduix.components import release

        release(self.held)
        self.held = []


class DeferredPlugin:
    @hookimpl
    def conduix_register_components(self, registry):
        registry.add_sink("deferred", Deferred)


def test_an_idle_sink_is_ticked_and_can_release_held_batches_later(tmp_path):
    spec = pipeline_from_dict({
        "sources": {"gen": {"type": "generate", "rate": 50}},
        "sinks": {"out": {"type": "deferred", "inputs": ["gen"]}},
        "settings": {"batch_size": 10},
    }, registry=test_registry(DeferredPlugin()))
    run = PipelineRun(spec, state_dir=tmp_path).start()
    try:
        # the sink only releases on a tick (or the final flush): acknowledgements while running come from ticks
        eventually(lambda: run.stats()["gen"].acknowledged >= 2, 20, "held batches released by a tick")
        assert run.nodes["out"].component.ticks > 0
    finally:
        run.stop()
    assert run.join(20)
    assert run.result.ok
    assert run.stats()["gen"].acknowledged == run.stats()["gen"].batches_in


class Double(Stage[ComponentConfig]):
    def process(self, batch: Batch, emit: Emit) -> None:
        emit(batch.derive([{**r, "value": r["seq"] * 2} for r in batch.records]))


class ThreadsSinkConfig(ComponentConfig):
    fail_at: int | None = None


class LocalSink(Sink[ThreadsSinkConfig]):
    """Records which thread opened, wrote, flushed and closed it."""

    Config = ThreadsSinkConfig
    local = True

    def __init__(self, config: ThreadsSinkConfig, context: Any) -> None:
        super().__init__(config, context)
        self.calls: list[tuple[str, str]] = []
        self.records: list[dict[str, Any]] = []

    def _call(self, what: str) -> None:
        self.calls.append((what, threading.current_thread().name))

    def open(self) -> None:
        self._call("open")

    def write(self, batch: Batch) -> None:
        self._call("write")
        if self.config.fail_at is not None and len(self.records) >= self.config.fail_at:
            raise OSError("disk full")
        self.records.extend(batch.records)

    def flush(self) -> None:
        self._call("flush")

    def close(self) -> None:
        self._call("close")


class RemoteSink(LocalSink):
    local = False


class InlineRemoteSink(RemoteSink):
    writes_inline = True  # as the kafka sink


@pytest.mark.parametrize(("sink", "buffer", "writer"), [
    (LocalSink, None, "conduix-source-nums"), (RemoteSink, None, "conduix-sink-out"),
    (InlineRemoteSink, None, "conduix-source-nums"),
    (InlineRemoteSink, {"type": "memory", "max_batches": 4}, "conduix-sink-out"),  # a buffer block: a thread again
])
def test_a_local_sink_with_one_input_writes_from_its_upstreams_thread(tmp_path, sink, buffer, writer) -> None:
    """No hand-off between threads for a local sink (file, blackhole) or one that writes inline (kafka); its own
    thread still opens, flushes and closes it, after every write."""
    result = Pipeline.from_dict({
        "settings": {"batch_size": 10},
        "sources": {"nums": {"type": "generate", "count": 95}},
        "transforms": {"double": {"type": "double", "inputs": ["nums"]}},
        "sinks": {"out": {"type": "threads", "inputs": ["double"], **({"buffer": buffer} if buffer else {})}},
    }, components={"double": Double, "threads": sink}).run(handle_signals=False, state_dir=tmp_path)
    assert result.ok, result.error
    out = result.components["out"]
    assert [r["value"] for r in out.records] == [2 * i for i in range(95)]
    assert [what for what, _ in out.calls] == ["open", *["write"] * 10, "flush", "close"]
    assert {thread for what, thread in out.calls if what == "write"} == {writer}
    assert {thread for what, thread in out.calls if what != "write"} == {"conduix-sink-out"}
    assert result.stats["out"].records_in == result.stats["out"].records_out == 95
    assert result.stats["nums"].acknowledged == 10


def test_a_local_sink_that_fails_fails_the_run_naming_it(tmp_path) -> None:
    result = Pipeline.from_dict({
        "settings": {"batch_size": 10},
        "sources": {"nums": {"type": "generate", "count": 95}},
        "sinks": {"out": {"type": "threads", "inputs": ["nums"], "fail_at": 30}},
    }, components={"threads": LocalSink}).run(handle_signals=False, state_dir=tmp_path)
    assert not result.ok
    assert "sink 'out'" in str(result.error) and "disk full" in str(result.error)
    assert result.stats["out"].errors == 1 and result.stats["nums"].errors == 0
    assert len(result.components["out"].records) == 30
    assert result.components["out"].calls[-1][0] == "close"


def test_selected_metadata_is_looked_up_when_read_and_gives_the_same_dicts() -> None:
    """SharedMeta.select keeps the indices (a filter on a batch whose metadata nobody reads does nothing per
    record); what it gives, read in any way and selected again, is what a selection made at once gives."""
    from conduix.components import SharedMeta

    columns = {"line": range(1, 11), "offset": [100 + i for i in range(10)], "headers": [{"n": i} for i in range(10)]}
    meta = SharedMeta({"source": "in"}, columns)
    first = meta.select([1, 3, 4, 6, 8, 9])
    second = first.select([0, 2, 5])  # records 1, 4 and 9 of the batch
    expected = [{"source": "in", "line": i + 1, "offset": 100 + i, "headers": {"n": i}} for i in (1, 4, 9)]
    assert second.dicts() == expected
    assert len(second) == 3 and list(second.columns["offset"]) == [101, 104, 109]
    assert second.columns["line"][2] == 10 and second.columns["offset"][-1] == 109
    assert second.columns["headers"][1:] == [{"n": 4}, {"n": 9}]
    assert first.dicts()[2] == {"source": "in", "line": 5, "offset": 104, "headers": {"n": 4}}
    only = SharedMeta({"source": "in"}, {"line": range(1, 11)}).select([0, 9])
    assert only.dicts() == [{"source": "in", "line": 1}, {"source": "in", "line": 10}]
    batch = Batch([{"n": i} for i in range(10)], meta).select([2, 7])
    assert batch.meta == [{"source": "in", "line": i + 1, "offset": 100 + i, "headers": {"n": i}} for i in (2, 7)]


def test_a_read_column_reads_its_items_only_when_read_and_anew_each_time() -> None:
    """ReadColumn (a Kafka source's headers, say): nothing is read for a batch whose metadata nobody reads, a
    selection reads only the selected items, and every read gives a new value (a component may change one
    record's headers)."""
    from conduix.components import ReadColumn, SharedMeta

    reads: list[int] = []

    def headers(item: int) -> dict[str, int]:
        reads.append(item)
        return {"n": item}

    meta = SharedMeta({"source": "in"}, {"offset": list(range(10)), "headers": ReadColumn(range(10), headers)})
    batch = Batch([{"n": i} for i in range(10)], meta).select([1, 3, 8])
    assert reads == [] and len(meta) == 10
    dicts = batch.meta
    assert dicts == [{"source": "in", "offset": i, "headers": {"n": i}} for i in (1, 3, 8)] and reads == [1, 3, 8]
    again = meta.dicts()
    assert again[1]["headers"] == dicts[0]["headers"] and again[1]["headers"] is not dicts[0]["headers"]
    column = meta.columns["headers"]
    assert column[2:4] == [{"n": 2}, {"n": 3}] and column[-1] == {"n": 9} and len(column) == 10
