"""The dead_letters source: original records and metadata back, a filter, and bad lines as rejects."""

from __future__ import annotations

import json

from conduix.testing import run_pipeline


def test_emits_original_records_with_their_metadata_and_rejects_bad_lines(tmp_path):
    path = tmp_path / "dlq.jsonl"
    letters = [
        {"record": {"id": 1}, "error": "boom", "component": "parse", "metadata": {"file": "/in.jsonl", "line": 7}},
        {"record": {"id": 2}, "error": "boom", "component": "other", "metadata": {"offset": 3}},
        {"record": {"id": 3}, "error": "boom", "component": "parse"},
    ]
    path.write_text("".join(json.dumps(d) + "\n" for d in letters[:2]) + "not json\n\n" + json.dumps(letters[2]))
    run = run_pipeline({
        "sources": {"dlq": {"type": "dead_letters", "path": str(path), "where": '.component == "parse"',
                            "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["dlq"]},
                  "bad": {"type": "collect", "inputs": ["dlq.dead_letter"]}},
    })
    sink = run.component("out")
    assert sink.records == [{"id": 1}, {"id": 3}]
    assert sink.meta == [{"file": "/in.jsonl", "line": 7}, {}]
    [bad] = run.records("bad")
    assert bad["record"] == {"message": "not json\n"} and bad["position"] == f"{path}:3"
    assert run.component("dlq").skipped == 1
