"""on_error (stop / drop / dead_letter) and retries: bad records go where the policy says,
the records around them are delivered, and everything read is acknowledged."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from conduix import Batch, ComponentConfig, Emit, Sink, Stage, hookimpl
from conduix.components import Rejected
from conduix.config import load_pipeline_text
from conduix.errors import ComponentError, ConfigError, RetryableError
from conduix.testing import run_pipeline, test_registry
from tests.conftest import conduix


class Picky(Stage[ComponentConfig]):
    """Fails on records whose 'n' is a multiple of 5, whether given one by one or in a batch."""

    Config = ComponentConfig

    def process(self, batch: Batch, emit: Emit) -> None:
        out = []
        for record in batch.records:
            if record["n"] % 5 == 0:
                raise ValueError(f"n={record['n']} is not allowed")
            out.append({**record, "ok": True})
        emit(batch.derive(out, batch.meta))


class FlakyConfig(ComponentConfig):
    fail_times: int = 2
    reject_odd: bool = False


class Flaky(Sink[FlakyConfig]):
    """Raises RetryableError the first `fail_times` writes; optionally rejects odd records for good."""

    Config = FlakyConfig

    def __init__(self, config: FlakyConfig, context: Any) -> None:
        super().__init__(config, context)
        self.calls = 0
        self.records: list[dict[str, Any]] = []

    def write(self, batch: Batch):
        self.calls += 1
        if self.calls <= self.config.fail_times:
            raise RetryableError("server unavailable (503)")
        rejected = []
        for i, record in enumerate(batch.records):
            if self.config.reject_odd and record["n"] % 2:
                rejected.append(Rejected(f"mapping error for n={record['n']}", index=i))
            else:
                self.records.append(record)
        return rejected


class Plugin:
    @hookimpl
    def conduix_register_components(self, registry):
        registry.add_stage("picky", Picky)
        registry.add_sink("flaky", Flaky)


FAST_RETRY = {"initial": 0.01, "max": 0.02}


def numbers(n: int) -> list[dict[str, Any]]:
    return [{"n": i} for i in range(1, n + 1)]


def test_stop_is_the_default_and_names_the_record():
    with pytest.raises(ComponentError) as info:
        run_pipeline({
            "sources": {"in": {"type": "list", "records": numbers(12)}},
            "transforms": {"p": {"type": "picky", "inputs": ["in"]}},
            "sinks": {"out": {"type": "collect", "inputs": ["p"]}},
        }, plugins=(Plugin(),))
    assert "stage 'p' failed" in str(info.value) and "n=5 is not allowed" in str(info.value)


def test_drop_delivers_the_records_around_the_bad_ones():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": numbers(12), "batch_size": 4}},
        "transforms": {"p": {"type": "picky", "inputs": ["in"], "on_error": "drop"}},
        "sinks": {"out": {"type": "collect", "inputs": ["p"]}},
    }, plugins=(Plugin(),))
    assert [r["n"] for r in run.records("out")] == [1, 2, 3, 4, 6, 7, 8, 9, 11, 12]
    assert run.result.stats["p"].dropped == 2
    assert sorted(run.component("in").acknowledged) == [(0, 4), (4, 8), (8, 12)]


def test_dead_letters_carry_record_error_component_pipeline_time_and_position():
    run = run_pipeline({
        "name": "dl",
        "sources": {"in": {"type": "list", "records": numbers(10)}},
        "transforms": {"p": {"type": "picky", "inputs": ["in"], "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["p"]},
                  "dlq": {"type": "collect", "inputs": ["p.dead_letter"]}},
    }, plugins=(Plugin(),))
    assert len(run.records("out")) == 8
    letters = run.records("dlq")
    assert [d["record"] for d in letters] == [{"n": 5}, {"n": 10}]
    first = letters[0]
    assert first["error"] == "n=5 is not allowed" and first["error_type"] == "ValueError"
    assert first["component"] == "p" and first["pipeline"] == "dl"
    assert first["position"] == "offset 4" and first["time"].endswith("Z")
    assert first["metadata"] == {"source": "in", "offset": 4}
    assert run.component("in").acknowledged == [(0, 10)]


def test_retryable_sink_errors_are_retried_then_delivered():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": numbers(6)}},
        "sinks": {"out": {"type": "flaky", "inputs": ["in"], "retry": FAST_RETRY}},
    }, plugins=(Plugin(),))
    assert [r["n"] for r in run.component("out").records] == list(range(1, 7))
    assert run.result.stats["out"].retries == 2


def test_retries_exhausted_then_policy_applies():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": numbers(3)}},
        "sinks": {"out": {"type": "flaky", "inputs": ["in"], "fail_times": 99, "on_error": "dead_letter",
                          "retry": {**FAST_RETRY, "max_attempts": 3}},
                  "dlq": {"type": "collect", "inputs": ["out.dead_letter"]}},
    }, plugins=(Plugin(),))
    assert [d["record"]["n"] for d in run.records("dlq")] == [1, 2, 3]
    assert "gave up after 3 attempts" in run.records("dlq")[0]["error"]
    assert run.component("in").acknowledged == [(0, 3)]


def test_sink_item_rejections_go_to_dead_letters_the_rest_is_written():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": numbers(6)}},
        "sinks": {"out": {"type": "flaky", "inputs": ["in"], "fail_times": 0, "reject_odd": True,
                          "on_error": "dead_letter"},
                  "dlq": {"type": "collect", "inputs": ["out.dead_letter"]}},
    }, plugins=(Plugin(),))
    assert [r["n"] for r in run.component("out").records] == [2, 4, 6]
    assert [d["record"]["n"] for d in run.records("dlq")] == [1, 3, 5]
    assert run.result.stats["out"].records_out == 3


def test_bad_json_lines_go_to_a_dead_letter_file_and_the_good_ones_through(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n{"a": oops}\n{"a": 3}\n')
    out, dlq = tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: bad_input
        sources:
          f: {{type: file, path: "{data}", format: json, on_error: dead_letter}}
        sinks:
          out: {{type: file, inputs: [f], path: "{out}"}}
          dlq: {{type: file, inputs: [f.dead_letter], path: "{dlq}"}}
    """))
    proc = conduix("run", str(pipeline))
    assert proc.returncode == 3, proc.stderr  # completed, but a record failed: not a plain success
    assert "pipeline bad_input: succeeded with errors" in proc.stderr and "1 record errors (f: 1)" in proc.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"a": 1}, {"a": 3}]
    letter = json.loads(dlq.read_text())
    assert letter["record"] == {"message": '{"a": oops}'}
    assert letter["position"] == f"{data}:2" and letter["error"].startswith("invalid JSON")


def test_a_failed_run_does_not_call_its_components_failure_a_record_error(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n{"a": oops}\n')
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: bad_input
        sources:
          f: {{type: file, path: "{data}", format: json}}
        sinks:
          out: {{type: blackhole, inputs: [f]}}
    """))
    proc = conduix("run", str(pipeline))
    assert proc.returncode == 1, proc.stderr
    assert "pipeline bad_input: failed in" in proc.stderr and "; errors (f: 1)" in proc.stderr, proc.stderr
    assert "record errors" not in proc.stderr


def test_dead_letter_output_needs_the_policy():
    with pytest.raises(ConfigError) as info:
        load_pipeline_text(textwrap.dedent("""
            sources:
              in: {type: generate, count: 1}
            sinks:
              out: {type: blackhole, inputs: [in]}
              dlq: {type: blackhole, inputs: [out.dead_letter]}
        """), registry=test_registry())
    assert "add 'on_error: dead_letter' to 'out'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_pipeline_text("sources: {in: {type: generate, on_eror: drop}}\n"
                           "sinks: {o: {type: blackhole, inputs: [in]}}\n", registry=test_registry())
    assert "did you mean 'on_error'" in str(info.value)
