"""The Python API does what `conduix run` does: in-process or supervised by the same rule, metrics
included, one place that builds runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml

from conduix import Batch, ComponentConfig, Pipeline, Stage
from conduix.errors import ConfigError, PluginError
from conduix.runtime import PipelineRun
from conduix.runtime.supervised import SupervisedRun
from conduix.testing import CollectSink, eventually


def sequences(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_a_supervised_two_worker_run_from_python(tmp_path):
    out = tmp_path / "out.jsonl"
    pipeline = Pipeline.from_dict({
        "name": "sliced",
        "settings": {"workers": 2, "batch_size": 50},
        "sources": {"gen": {"type": "generate", "count": 2000}},
        "sinks": {"out": {"type": "file", "inputs": ["gen"], "path": str(out)}},
    })
    assert pipeline.wants_supervision()  # settings.workers > 1, as `conduix run` decides
    result = pipeline.run(state_dir=tmp_path / "state")
    assert result.ok and result.status == "succeeded", result.error
    assert result.supervised and set(result.workers) == {"worker-0", "worker-1"}
    assert result.stats["gen"].records_out == 2000  # summed over the two workers
    assert sorted(sequences(out)) == list(range(2000))
    status = json.loads((tmp_path / "state" / "status" / "sliced.json").read_text())
    assert status["outcome"] == "succeeded"


@pytest.mark.slow
def test_a_supervised_run_started_in_the_background_serves_metrics_and_stops_gracefully(tmp_path):
    run = Pipeline.from_dict({
        "name": "endless",
        "settings": {"workers": 2},
        "sources": {"gen": {"type": "generate", "rate": 500}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}},
    }).start(state_dir=tmp_path / "state", metrics_port=0)
    assert isinstance(run, SupervisedRun)
    try:
        url = eventually(lambda: run.metrics_url, 60, "the metrics endpoint")
        eventually(lambda: httpx.get(f"{url}/ready").status_code == 200, 60, "both workers ready")
        eventually(lambda: run.stats().get("gen") and run.stats()["gen"].records_out > 0, 60,
                   "counters from workers")
        assert 'conduix_records_in_total{' in httpx.get(f"{url}/metrics").text
        assert run.status()["state"] == "running"
    finally:
        run.stop()
    assert run.join(90)
    assert run.result.status == "stopped" and run.result.ok
    assert set(run.result.workers) == {"worker-0", "worker-1"}
    with pytest.raises(httpx.TransportError):  # the endpoint went away with the run
        httpx.get(f"{url}/health", timeout=2)


def test_in_process_is_the_default_and_can_be_forced_over_workers(tmp_path):
    data = {"settings": {"workers": 2},
            "sources": {"gen": {"type": "generate", "count": 10}},
            "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}}}
    run = Pipeline.from_dict(data).start(state_dir=tmp_path, supervised=False)
    assert isinstance(run, PipelineRun)
    assert run.join(30) and run.result.ok and run.result.stats["out"].records_in == 10
    plain = Pipeline.from_dict({**data, "settings": {}})
    assert not plain.wants_supervision()


def test_an_in_process_run_serves_metrics_while_it_runs_and_checkpoints_where_told(tmp_path):
    pipeline = Pipeline.from_dict({
        "name": "served",
        "sources": {"gen": {"type": "generate", "rate": 200}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}},
    })
    run = pipeline.start(state_dir=tmp_path / "state", metrics_port=0)
    try:
        assert run.metrics_url
        eventually(lambda: httpx.get(f"{run.metrics_url}/ready").status_code == 200, 60, "ready")
        eventually(lambda: 'component="gen"' in httpx.get(f"{run.metrics_url}/metrics").text, 60, "counters")
    finally:
        run.stop()
    assert run.join(30) and run.result.ok
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{run.metrics_url}/health", timeout=2)
    assert (tmp_path / "state" / "checkpoints").is_dir()  # the store of settings.checkpoint (files here)


def test_what_only_an_in_process_run_can_take_is_refused_for_a_supervised_one(tmp_path):
    pipeline = Pipeline.from_dict({"settings": {"workers": 2},
                                   "sources": {"gen": {"type": "generate", "count": 1}},
                                   "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}}})
    with pytest.raises(ConfigError, match="in-process"):
        pipeline.start(state_dir=tmp_path, services={"x": 1})


# -- components given as classes and functions, and the builder --------------------------------------

class Double(Stage):
    """Doubles ``value`` (module level: supervised workers import it by name)."""

    def process(self, batch: Batch, emit) -> None:
        for record in batch.records:
            record["value"] = record["seq"] * 2
        emit(batch)


class ScaleConfig(ComponentConfig):
    factor: int = 2


class Scale(Stage[ScaleConfig]):
    Config = ScaleConfig

    def process(self, batch: Batch, emit) -> None:
        emit(batch.derive([{**r, "value": r["seq"] * self.config.factor} for r in batch.records]))


def add_one(record: dict) -> dict:
    return {**record, "value": record["value"] + 1}


def test_a_custom_stage_class_and_a_sink_class_are_used_directly_without_a_plugin(tmp_path):
    result = Pipeline.from_dict({
        "sources": {"nums": {"type": "generate", "count": 5}},
        "transforms": {"double": {"type": "double", "inputs": ["nums"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["double"]}},
    }, components={"double": Double, "collect": CollectSink}).run(state_dir=tmp_path)
    assert result.ok
    assert [r["value"] for r in result.components["out"].records] == [0, 2, 4, 6, 8]
    assert isinstance(result.components["double"], Double)


def test_a_function_is_a_stage_called_per_record_and_its_config_is_checked(tmp_path):
    pipeline = Pipeline.from_dict({
        "sources": {"nums": {"type": "generate", "count": 3}},
        "transforms": {"scale": {"type": "scale", "inputs": ["nums"], "factor": 10},
                       "inc": {"type": "add_one", "inputs": ["scale"]}},
        "sinks": {"out": {"type": "collect", "inputs": ["inc"]}},
    }, components={"scale": Scale, "add_one": add_one, "collect": "conduix.testing:CollectSink"})
    result = pipeline.run(state_dir=tmp_path)
    assert [r["value"] for r in result.components["out"].records] == [1, 11, 21]
    with pytest.raises(ConfigError, match="fctor"):  # a typo in a key of your own config model
        Pipeline.from_dict({"sources": {"nums": {"type": "generate", "count": 3}},
                            "transforms": {"scale": {"type": "scale", "inputs": ["nums"], "fctor": 10}},
                            "sinks": {"out": {"type": "blackhole", "inputs": ["scale"]}}},
                           components={"scale": Scale})


def test_a_name_taken_by_an_installed_component_is_refused_and_the_installed_ones_are_untouched():
    with pytest.raises(PluginError, match="stage type 'remap' is taken"):
        Pipeline.from_dict({"sources": {"g": {"type": "generate"}}}, components={"remap": Double})
    with pytest.raises(PluginError, match="not a Source, Stage or Sink"):
        Pipeline.from_dict({"sources": {"g": {"type": "generate"}}}, components={"x": int})
    with pytest.raises(ConfigError, match="unknown stage type 'double'"):  # components stay with their pipeline
        Pipeline.from_dict({"sources": {"g": {"type": "generate"}},
                            "transforms": {"d": {"type": "double", "inputs": ["g"]}},
                            "sinks": {"o": {"type": "blackhole", "inputs": ["d"]}}})


def test_the_builder_produces_the_model_of_the_same_pipeline_in_yaml(tmp_path):
    builder = (Pipeline.builder("doubled", settings={"batch_size": 2})
               .source("nums", "generate", count=4)
               .stage("double", Double)
               .stage("inc", add_one)
               .sink("out", CollectSink)
               .sink("log", "blackhole"))
    text = """
        name: doubled
        settings: {batch_size: 2}
        sources:
          nums: {type: generate, count: 4}
        transforms:
          double: {type: double, inputs: [nums]}
          inc: {type: add_one, inputs: [double]}
        sinks:
          out: {type: collect_sink, inputs: [inc]}
          log: {type: blackhole, inputs: [inc]}
    """
    assert builder.to_dict() == yaml.safe_load(textwrap.dedent(text))
    assert yaml.safe_load(builder.to_yaml()) == builder.to_dict()
    pipeline = builder.build()
    from_yaml = Pipeline.from_text(textwrap.dedent(text), components=builder.components)
    assert ({c.id: (c.kind, c.type_name, [str(i) for i in c.inputs]) for c in pipeline.spec.components.values()}
            == {c.id: (c.kind, c.type_name, [str(i) for i in c.inputs]) for c in from_yaml.spec.components.values()})
    result = pipeline.run(state_dir=tmp_path)
    assert [r["value"] for r in result.components["out"].records] == [1, 3, 5, 7]


def test_the_builder_says_what_is_wrong():
    with pytest.raises(ConfigError, match="nothing to read"):
        Pipeline.builder().stage("double", Double)
    with pytest.raises(ConfigError, match="is a stage, not a sink"):
        Pipeline.builder().source("g", "generate").sink("d", Double)
    with pytest.raises(ConfigError, match="used twice"):
        Pipeline.builder().source("g", "generate").stage("g", Double)
    two_sources = Pipeline.builder().source("a", "generate").source("b", "generate").stage("d", Double)
    assert two_sources.to_dict()["transforms"]["d"]["inputs"] == ["a", "b"]


@pytest.mark.slow
def test_a_supervised_run_imports_the_components_given_in_python_in_its_workers(tmp_path):
    out = tmp_path / "out.jsonl"
    pipeline = (Pipeline.builder("classes", settings={"workers": 2})
                .source("nums", "generate", count=100)
                .stage("double", Double)
                .sink("out", "file", path=str(out))
                .build())
    result = pipeline.run(state_dir=tmp_path / "state")
    assert result.ok and result.supervised, result.error
    assert sorted(json.loads(line)["value"] for line in out.read_text().splitlines()) == list(range(0, 200, 2))

    class Local(Stage):
        def process(self, batch, emit):
            emit(batch)

    local = Pipeline.builder(settings={"workers": 2}).source("g", "generate").stage("l", Local).sink(
        "o", "blackhole").build()
    with pytest.raises(ConfigError, match="top level of a module"):
        local.start(state_dir=tmp_path / "state2")

