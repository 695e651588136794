"""The built-in file source (glob, follow, checkpoint) and sinks, end to end."""

from __future__ import annotations

import json
import time

from conduix import Pipeline
from conduix.config import pipeline_from_dict
from conduix.testing import run_pipeline, test_registry


def test_file_source_reads_a_glob_in_order_with_line_metadata(tmp_path):
    (tmp_path / "a.log").write_text("one\ntwo\n")
    (tmp_path / "b.log").write_text("three\n")
    (tmp_path / "skip.txt").write_text("nope\n")
    run = run_pipeline({
        "sources": {"f": {"type": "file", "path": str(tmp_path / "*.log")}},
        "sinks": {"out": {"type": "collect", "inputs": ["f"]}},
    })
    assert [r["message"] for r in run.records("out")] == ["one", "two", "three"]
    assert run.component("out").meta[2] == {"source": "f", "file": str(tmp_path / "b.log"), "line": 1}


def test_file_source_follows_appends_and_new_files_and_resumes_from_its_checkpoint(tmp_path):
    data = tmp_path / "app-1.jsonl"
    data.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(5)))
    config = {
        "name": "tail",
        "settings": {"checkpoint": {"interval": 0.05}},
        "sources": {"f": {"type": "file", "path": str(tmp_path / "app-*.jsonl"), "format": "json",
                          "follow": True, "glob_interval": 0.05}},
        "sinks": {"out": {"type": "collect", "inputs": ["f"]}},
    }
    pipeline = Pipeline(pipeline_from_dict(config, registry=test_registry()))
    state = tmp_path / "state"
    run = pipeline.start(state_dir=state)

    def collected(r):
        return [rec["n"] for rec in r.nodes["out"].component.records]

    def wait_for(r, n):
        deadline = time.monotonic() + 15
        while len(collected(r)) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return collected(r)

    assert wait_for(run, 5) == [0, 1, 2, 3, 4]
    with data.open("a") as fh:
        fh.write(json.dumps({"n": 5}) + "\n" + '{"n": 6')  # the second line is still being written
    assert wait_for(run, 6) == [0, 1, 2, 3, 4, 5]
    with data.open("a") as fh:
        fh.write("}\n")
    (tmp_path / "app-2.jsonl").write_text(json.dumps({"n": 7}) + "\n")
    assert wait_for(run, 8) == [0, 1, 2, 3, 4, 5, 6, 7]
    run.stop()
    assert run.join(10) and run.result.ok

    with data.open("a") as fh:
        fh.write(json.dumps({"n": 8}) + "\n")
    again = pipeline.start(state_dir=state)
    assert wait_for(again, 1) == [8]  # resumed after what was acknowledged: nothing twice, nothing lost
    again.stop()
    assert again.join(10)


def test_file_sink_writes_json_lines(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    run = run_pipeline({
        "sources": {"g": {"type": "generate", "count": 3, "record": {"k": "v"}}},
        "sinks": {"o": {"type": "file", "inputs": ["g"], "path": str(out), "append": False}},
    })
    assert run.ok
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"k": "v", "seq": 0}, {"k": "v", "seq": 1}, {"k": "v", "seq": 2}]


def test_python_stage_in_batch_mode_with_options(tmp_path, monkeypatch):
    (tmp_path / "batch_udf.py").write_text(
        "def keep_even(records, field):\n    return [r for r in records if r[field] % 2 == 0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = run_pipeline({
        "sources": {"g": {"type": "generate", "count": 10}},
        "transforms": {"t": {"type": "python", "inputs": ["g"], "function": "batch_udf:keep_even",
                             "mode": "batch", "options": {"field": "seq"}}},
        "sinks": {"o": {"type": "collect", "inputs": ["t"]}},
    })
    assert [r["seq"] for r in run.records("o")] == [0, 2, 4, 6, 8]
