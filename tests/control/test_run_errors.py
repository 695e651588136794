"""A run in which a stage fails records does not read as a plain success in the control plane: the run record
holds the error total and each component's error counters, as reported by the agent that ran it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.control.conftest import eventually


def test_the_run_record_counts_errors_per_component(stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "parsed.jsonl"
    cp = stack.control()
    stack.agent(cp, "a1")
    cp.put_pipeline("half_bad", f"""version: 1
name: half_bad
sources:
  lines: {{type: generate, count: 20, records: [{{message: '{{"ok": true}}'}}, {{message: not json}}]}}
transforms:
  parse: {{type: remap, inputs: [lines], source: '. = parse_json!(.message)'}}
sinks:
  out: {{type: file, inputs: [parse], path: {out}}}
""")
    assert cp.post("/pipelines/half_bad/start").status_code == 202
    run = eventually(lambda: (runs := cp.runs("half_bad")) and runs[0]["status"] == "succeeded" and runs[0],
                     timeout=60, what="the run ended")
    assert run["records_out"] == 20 and run["errors"] == 10
    components = run["stats"]["components"]
    assert {cid: c["errors"] for cid, c in components.items()} == {"lines": 0, "parse": 10, "out": 0}
