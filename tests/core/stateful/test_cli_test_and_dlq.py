"""`conduix test` on the example pipelines and on failing tests; `conduix dlq replay` end to end."""

from __future__ import annotations

import json
import textwrap

import pytest

from conduix.cli.unit_test import run_tests
from tests.conftest import ROOT, conduix


@pytest.mark.parametrize("example", ["aggregate", "dead_letters", "enrich"])
def test_the_examples_pass_their_tests(example):
    proc = conduix("test", f"examples/{example}.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ", 0 failed" in proc.stdout and "FAILED" not in proc.stdout


PIPELINE = """
version: 1
name: unit
sources:
  in: {type: generate, count: 3}
transforms:
  double:
    type: remap
    inputs: [in]
    source: .n = .n * 2
  big:
    type: filter
    inputs: [double]
    condition: .n > 5
sinks:
  out: {type: stdout, inputs: [big]}
"""


def test_a_failing_condition_is_reported_and_exits_1(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "p.test.yaml").write_text(textwrap.dedent("""
        tests:
          - name: doubles
            inputs: [{insert_at: double, records: [{n: 1}, {n: 4}]}]
            outputs: [{extract_from: double, conditions: ['.n == 2 || .n == 8']}]
          - name: wrong expectation
            inputs: [{insert_at: in, records: [{n: 1}, {n: 4}]}]
            outputs:
              - {extract_from: out, conditions: ['.n > 100']}
              - {extract_from: big, count: 2}
    """))
    outcomes = run_tests(tmp_path / "p.test.yaml")
    assert [o.passed for o in outcomes] == [True, False]
    assert outcomes[1].failures == [
        "output 'out': condition '.n > 100' is false for record 0: {'n': 8}",
        "output 'big': expected 2 record(s), got 1",
    ]
    proc = conduix("test", str(tmp_path / "p.yaml"))
    assert proc.returncode == 1
    assert "wrong expectation ... FAILED" in proc.stdout and "1 passed, 1 failed" in proc.stdout


@pytest.mark.parametrize(("tests", "problem"), [
    ("tests: [{name: x, inputs: [{insert_at: nope, records: []}], outputs: [{extract_from: out}]}]",
     "insert_at 'nope' is not a source or transform"),
    ("tests: [{name: x, inputs: [{insert_at: in, records: []}], outputs: [{extract_from: out, "
     "conditions: ['.n +']}]}]", "condition '.n +'"),
    ("tests: [{name: x, inputs: [{insert_at: in, records: []}], outputs: [{extract_from: out}], oops: 1}]",
     "oops"),
])
def test_a_bad_tests_file_is_one_clear_line_and_exits_2(tmp_path, tests, problem):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "p.test.yaml").write_text(tests)
    proc = conduix("test", str(tmp_path / "p.test.yaml"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert problem in proc.stderr and "Traceback" not in proc.stderr


def test_dlq_replay_feeds_fixed_records_back_with_their_original_metadata(tmp_path):
    orders = tmp_path / "orders.jsonl"
    orders.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": 1, "amount": 10}, {"id": 2, "amount": "x"}, {"id": 3, "amount": 3}, {"id": 4, "amount": "y"}]))
    env = {"ORDERS_IN": str(orders), "ORDERS_OUT": str(tmp_path / "out.jsonl"),
           "ORDERS_DLQ": str(tmp_path / "dlq.jsonl")}
    proc = conduix("run", "examples/dead_letters.yaml", "--no-progress", env=env)
    assert proc.returncode == 3, proc.stderr  # records failed on purpose: completed with errors
    assert "record errors (price: 2)" in proc.stderr
    letters = [json.loads(line) for line in (tmp_path / "dlq.jsonl").read_text().splitlines()]
    assert [d["record"]["id"] for d in letters] == [2, 4]
    fixed = tmp_path / "fixed.jsonl"
    for letter in letters:
        letter["record"]["amount"] = 5
    letters[1]["component"] = "elsewhere"
    fixed.write_text("".join(json.dumps(d) + "\n" for d in letters))
    env["ORDERS_DLQ"] = str(tmp_path / "dlq-again.jsonl")
    proc = conduix("dlq", "replay", str(fixed), "--pipeline", "examples/dead_letters.yaml", "--into", "price",
                   "--where", '.component == "price"', env=env)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    # records 1 and 3 from the run, then record 2 from the replay, still stamped with its original line
    assert [(r["id"], r["total"], r["source_line"]) for r in out] == [(1, 10, 1), (3, 3, 3), (2, 5, 2)]
    assert "source dlq_replay" in proc.stderr


def test_dlq_replay_names_an_unknown_component(tmp_path):
    fixed = tmp_path / "dlq.jsonl"
    fixed.write_text('{"record": {"id": 1}}\n')
    proc = conduix("dlq", "replay", str(fixed), "--pipeline", str(ROOT / "examples/dead_letters.yaml"),
                   "--into", "pryce")
    assert proc.returncode == 2 and "--into 'pryce'" in proc.stderr and "price" in proc.stderr
