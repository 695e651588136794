"""The remap, filter and router stages, directly and in a pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from conduix.builtins.remap_stages import FilterStage, RemapStage, RouterStage
from conduix.components import Batch, Context
from conduix.errors import ConfigError
from conduix.hookspecs import hookimpl
from conduix.registry import ComponentRegistry
from conduix.testing import run_pipeline


class Collector:
    def __init__(self) -> None:
        self.out: dict[str | None, list[Batch]] = {}

    def __call__(self, batch: Batch, output: str | None = None) -> None:
        self.out.setdefault(output, []).append(batch)

    def records(self, output: str | None = None) -> list[dict[str, Any]]:
        return [r for b in self.out.get(output, []) for r in b.records]

    def meta(self, output: str | None = None) -> list[dict[str, Any]]:
        return [b.meta_at(i) for b in self.out.get(output, []) for i in range(len(b))]


def make(cls: Any, **config: Any) -> Any:
    return cls(cls.Config(**config), Context(component_id="t"))


def batch(*records: dict[str, Any], meta: list[dict[str, Any]] | None = None) -> Batch:
    return Batch(list(records), meta, position=(0, len(records)), acks=("ack",))


# -- remap ---------------------------------------------------------------------------------

def test_remap_transforms_records_and_keeps_acks() -> None:
    stage = make(RemapStage, source=". = parse_json!(.message)\n.level = upcase!(.level)")
    emit = Collector()
    stage.process(batch({"message": '{"level": "info"}'}, {"message": '{"level": "warn", "n": 1}'}), emit)
    assert emit.records() == [{"level": "INFO"}, {"level": "WARN", "n": 1}]
    assert emit.out[None][0].acks == ("ack",)
    assert stage.outputs() == []


def test_remap_failed_record_passes_through_unchanged_by_default() -> None:
    stage = make(RemapStage, source=".touched = true\n. = parse_json!(.message)")
    emit = Collector()
    stage.process(batch({"message": "not json"}, {"message": "{}"}), emit)
    assert emit.records() == [{"message": "not json"}, {}]  # the original, not the half-changed record


@pytest.mark.parametrize(("source", "copy"), [
    (". = parse_json!(.message)\n.n = 1\ndel(.message)", "none"),  # writes only into the new root
    ("m = parse_json!(.message)\n. = {\"m\": m, \"tags\": .tags}\n.tags[0] = \"x\"", "none"),
    (".n = 1\ndel(.message)\n. = parse_json!(.message)", "shallow"),
    ("if .n == 1 { . = {} }\n.n = 2", "shallow"),  # a conditional root: later writes may reach the event
    (".tags[0] = \"x\"\n. = parse_json!(.message)", "deep"),
    ("del(.tags[0])", "deep"),
    ("for_each(array!(.tags)) -> |_i, v| { .other.a = v }", "deep"),
    (". = parse_json!(.message)\n.b = decode_base64!(\"/w==\")\n.tags = 1", "none"),
    (".b = decode_base64!(\"/w==\")", "deep"),  # bytes are made printable in place, nested values included
])
def test_remap_copies_only_what_the_program_can_change(source: str, copy: str) -> None:
    """Failed records pass through as they came, whatever the program wrote before failing."""
    from conduix.remap import compile as compile_remap
    from conduix.remap.paths import clone

    assert compile_remap(source).copy_input is {"none": None, "shallow": dict, "deep": clone}[copy]
    stage = make(RemapStage, source=source + "\nabort", drop_on_abort=False)
    record = {"message": '{"a": 1}', "n": 1, "tags": ["t"], "nested": {"k": "v"}}
    original = clone(record)
    emit = Collector()
    stage.process(batch(record), emit)  # aborts (or fails) after its writes
    assert emit.records() == [original] and record == original


def test_remap_drop_on_error_and_abort_with_reroute() -> None:
    stage = make(RemapStage, source='if .skip == true { abort "skipped" }\n.n = to_int!(.n)',
                 drop_on_error=True, reroute_dropped=True)
    assert stage.outputs() == ["dropped"]
    emit = Collector()
    stage.process(batch({"n": "1"}, {"n": "x"}, {"skip": True, "n": "2"},
                        meta=[{"offset": 0}, {"offset": 1}, {"offset": 2}]), emit)
    assert emit.records() == [{"n": 1}]
    assert emit.meta() == [{"offset": 0}]
    assert emit.records("dropped") == [{"n": "x"}, {"skip": True, "n": "2"}]
    error, abort = emit.meta("dropped")
    assert error["offset"] == 1
    assert error["dropped"]["reason"] == "error"
    assert 'function call error for "to_int"' in error["dropped"]["message"]
    assert (error["dropped"]["line"], error["dropped"]["column"]) == (2, 6)
    assert abort["dropped"]["reason"] == "abort"
    assert abort["dropped"]["message"] == "skipped"


def test_remap_drop_without_reroute_emits_nothing_for_a_fully_dropped_batch() -> None:
    stage = make(RemapStage, source="abort")
    emit = Collector()
    stage.process(batch({"a": 1}), emit)
    assert emit.out == {}


def test_remap_keeps_aborted_records_when_drop_on_abort_is_false() -> None:
    stage = make(RemapStage, source=".x = 1\nabort", drop_on_abort=False)
    emit = Collector()
    stage.process(batch({"a": 1}), emit)
    assert emit.records() == [{"a": 1}]


def test_remap_metadata_is_created_when_the_program_writes_it() -> None:
    stage = make(RemapStage, source='%route = "a"\n.seen = %route')
    emit = Collector()
    stage.process(batch({"x": 1}), emit)
    assert emit.records() == [{"x": 1, "seen": "a"}]
    assert emit.meta() == [{"route": "a"}]


def test_remap_program_from_file_and_config_errors(tmp_path: Path) -> None:
    program = tmp_path / "p.vrl"
    program.write_text(".from_file = true\n")
    stage = make(RemapStage, file=str(program))
    emit = Collector()
    stage.process(batch({}), emit)
    assert emit.records() == [{"from_file": True}]
    with pytest.raises(ValidationError, match="exactly one of 'source'"):
        RemapStage.Config(source=".a = 1", file=str(program))
    with pytest.raises(ValidationError, match="extra"):
        RemapStage.Config(source=".a = 1", drop_on_eror=True)
    # program errors are config errors: validating a pipeline reports them with line, column and caret
    with pytest.raises(ValidationError, match='line 1, column 6: call to undefined function "nope"'):
        RemapStage.Config(source=".a = nope(.b)")
    broken = tmp_path / "broken.vrl"
    broken.write_text(".a = nope(.b)")
    with pytest.raises(ValidationError, match=r"broken\.vrl: line 1, column 6: call to undefined function"):
        RemapStage.Config(file=str(broken))
    with pytest.raises(ConfigError, match="cannot read the remap program"):
        make(RemapStage, file=str(tmp_path / "missing.vrl"))


# -- filter ----------------------------------------------------------------------------------

def test_filter_keeps_matching_records() -> None:
    stage = make(FilterStage, condition='.level == "error"')
    emit = Collector()
    stage.process(batch({"level": "error", "i": 0}, {"level": "info"}, {"level": "error", "i": 2},
                        meta=[{"o": 0}, {"o": 1}, {"o": 2}]), emit)
    assert emit.records() == [{"level": "error", "i": 0}, {"level": "error", "i": 2}]
    assert emit.meta() == [{"o": 0}, {"o": 2}]


def test_filter_treats_failing_conditions_as_false_and_drops_empty_batches() -> None:
    stage = make(FilterStage, condition=".n > 1")
    emit = Collector()
    stage.process(batch({"n": "text"}, {"n": 0}), emit)
    assert emit.out == {}
    with pytest.raises(ValidationError, match="must return a boolean"):
        FilterStage.Config(condition='"not a condition"')


# -- router ----------------------------------------------------------------------------------

ROUTES = {"errors": '.level == "error"', "slow": ".ms > 100"}


def test_router_condition_mode_first_match() -> None:
    stage = make(RouterStage, mode="condition", routes=ROUTES)
    assert stage.outputs() == ["errors", "slow", "_unmatched"]
    emit = Collector()
    stage.process(batch({"level": "error", "ms": 500}, {"level": "info", "ms": 500}, {"level": "info", "ms": 1}),
                  emit)
    assert emit.records("errors") == [{"level": "error", "ms": 500}]
    assert emit.records("slow") == [{"level": "info", "ms": 500}]
    assert emit.records("_unmatched") == [{"level": "info", "ms": 1}]


def test_router_filter_mode_all_matches_with_independent_copies() -> None:
    stage = make(RouterStage, mode="filter", routes=ROUTES)
    emit = Collector()
    stage.process(batch({"level": "error", "ms": 500}), emit)
    errors, slow = emit.records("errors"), emit.records("slow")
    assert errors == slow == [{"level": "error", "ms": 500}]
    errors[0]["changed"] = True
    assert "changed" not in slow[0]
    assert "_unmatched" not in emit.out


def test_router_fan_out() -> None:
    stage = make(RouterStage, mode="fan_out", routes=["a", "b"])
    assert stage.outputs() == ["a", "b"]
    emit = Collector()
    stage.process(batch({"x": 1}), emit)
    assert emit.records("a") == emit.records("b") == [{"x": 1}]
    assert emit.records("a")[0] is not emit.records("b")[0]


@pytest.mark.parametrize(("config", "message"), [
    ({"mode": "condition", "routes": ["a"]}, "needs a condition per route"),
    ({"mode": "filter", "routes": {"a": None}}, "needs a condition"),
    ({"mode": "fan_out", "routes": {"a": ".x == 1"}}, "fan_out sends every record everywhere"),
    ({"mode": "condition", "routes": {"_unmatched": ".x == 1"}}, "router's own output"),
])
def test_router_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RouterStage.Config(**config)


def test_router_condition_compile_error_names_the_route() -> None:
    with pytest.raises(ValidationError, match="route 'slow': line 1, column 6: syntax error"):
        RouterStage.Config(mode="condition", routes={"slow": ".ms >"})


# -- end to end ----------------------------------------------------------------------------------

class _RemapStages:
    @hookimpl
    def conduix_register_components(self, registry: ComponentRegistry) -> None:
        registry.add_stage("remap_test", RemapStage)  # also registered as remap
        registry.add_stage("filter_test", FilterStage)
        registry.add_stage("router_test", RouterStage)


def test_pipeline_with_the_readme_remap() -> None:
    lines = [{"message": json.dumps({"level": "info", "status": 200, "debug": True})},
             {"message": json.dumps({"level": "error", "status": 503})},
             {"message": "garbage"}]
    config = {
        "version": 1,
        "name": "remap-e2e",
        "sources": {"app_logs": {"type": "list", "records": lines}},
        "transforms": {
            "parse": {"type": "remap_test", "inputs": ["app_logs"], "drop_on_error": True, "reroute_dropped": True,
                      "source": ". = parse_json!(.message)\n.level = upcase!(.level)\ndel(.debug)\n"
                                ".ok = int!(.status) < 400"},
            "failed_only": {"type": "filter_test", "inputs": ["parse"], "condition": ".ok == false"},
            "split": {"type": "router_test", "inputs": ["parse"], "mode": "condition",
                      "routes": {"errors": '.level == "ERROR"'}},
        },
        "sinks": {
            "all": {"type": "collect", "inputs": ["parse"]},
            "failed": {"type": "collect", "inputs": ["failed_only"]},
            "errors": {"type": "collect", "inputs": ["split.errors"]},
            "rest": {"type": "collect", "inputs": ["split._unmatched"]},
            "dead_letters": {"type": "collect", "inputs": ["parse.dropped"]},
        },
    }
    result = run_pipeline(config, plugins=(_RemapStages(),))
    assert result.records("all") == [{"level": "INFO", "status": 200, "ok": True},
                                     {"level": "ERROR", "status": 503, "ok": False}]
    assert result.records("failed") == [{"level": "ERROR", "status": 503, "ok": False}]
    assert result.records("errors") == [{"level": "ERROR", "status": 503, "ok": False}]
    assert result.records("rest") == [{"level": "INFO", "status": 200, "ok": True}]
    assert result.records("dead_letters") == [{"message": "garbage"}]
    assert result.component("dead_letters").meta[0]["dropped"]["reason"] == "error"
