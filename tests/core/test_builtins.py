"""The built-in file source (glob, follow, checkpoint) and sinks, end to end."""

from __future__ import annotations

import json

from conduix import Pipeline
from conduix.config import pipeline_from_dict
from conduix.testing import eventually, run_pipeline, test_registry


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


def test_file_line_metadata_survives_filters_remaps_and_bad_lines(tmp_path):
    """The file source keeps its metadata per batch; every record still ends with its own file and line,
    whether a stage reads metadata or not, in batches of good lines only and in batches with bad ones."""
    data = tmp_path / "in.jsonl"
    lines = ['{"n": 1, "level": "info"}', '{"n": 2, "level": "debug"}', "", "not json", "[1, 2]",
             '{"n": 3, "level": "info"}', '{"n": 4, "level": "info"}', '{"n": 5, "level": "debug"}',
             '{"n": 6, "level": "info"}']
    data.write_text("".join(line + "\n" for line in lines))
    run = run_pipeline({
        "settings": {"batch_size": 3},
        "sources": {"f": {"type": "file", "path": str(data), "format": "json", "on_error": "dead_letter"}},
        "transforms": {
            "keep": {"type": "filter", "inputs": ["f"], "condition": '.level != "debug"'},
            "plain": {"type": "remap", "inputs": ["keep"], "source": '.seen = true\nif .n == 4 { abort }'},
            "reads": {"type": "remap", "inputs": ["keep"], "source": ".at = %line\n%checked = true"},
        },
        "sinks": {"plain_out": {"type": "collect", "inputs": ["plain"]},
                  "reads_out": {"type": "collect", "inputs": ["reads"]},
                  "dlq": {"type": "collect", "inputs": ["f.dead_letter"]}},
    })
    where = {"source": "f", "file": str(data)}
    assert [(r.get("n"), m) for r, m in zip(run.records("plain_out"), run.component("plain_out").meta)] == [
        (1, {**where, "line": 1}), (None, {**where, "line": 5}), (3, {**where, "line": 6}), (6, {**where, "line": 9})]
    assert [(r.get("n"), r["at"]) for r in run.records("reads_out")] == [(1, 1), (None, 5), (3, 6), (4, 7), (6, 9)]
    assert run.component("reads_out").meta[2] == {**where, "line": 6, "checked": True}
    assert [d["metadata"]["line"] for d in run.records("dlq")] == [4]
    assert run.records("plain_out")[0] == {"n": 1, "level": "info", "seen": True}


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
        eventually(lambda: len(collected(r)) >= n, 15, f"{n} records collected")
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


def test_file_source_reads_in_chunks_across_line_ends_and_checkpoints_every_byte(tmp_path, monkeypatch):
    """Lines cut by chunk boundaries, \\r\\n line ends, blank and invalid lines, a last line without a newline,
    small batches: every record once, in order, with its line number; the checkpoint is the file's end."""
    from conduix.builtins import files

    monkeypatch.setattr(files, "CHUNK_BYTES", 7)
    lines = ['{"n": 1}', '{"n": 2, "text": "a longer line than one chunk"}\r', "", "not json", "   ", '{"n": 3}',
             '"just a string"', '{"n": 4}']
    data = tmp_path / "in.jsonl"
    data.write_bytes("\n".join(lines).encode())  # no newline after the last line
    state = tmp_path / "state"
    run = run_pipeline({
        "name": "chunks",
        "settings": {"batch_size": 2},
        "sources": {"f": {"type": "file", "path": str(data), "format": "json", "on_error": "drop"}},
        "sinks": {"out": {"type": "collect", "inputs": ["f"]}},
    }, state_dir=state, checkpoints=True)
    assert run.records("out") == [{"n": 1}, {"n": 2, "text": "a longer line than one chunk"}, {"n": 3},
                                  {"message": "just a string"}, {"n": 4}]
    assert [m["line"] for m in run.component("out").meta] == [1, 2, 6, 7, 8]
    saved = json.loads(next(state.rglob("*.json")).read_text())
    assert json.dumps({"line": 8, "offset": data.stat().st_size}) in json.dumps(saved)


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
