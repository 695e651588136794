"""The checkpoint's ``processed_count`` counts acknowledged records (not batches), across runs."""

from __future__ import annotations

import json
from pathlib import Path

from conduix import Pipeline
from conduix.checkpoint import FileCheckpointStore


def test_processed_count_counts_records_and_goes_on_across_runs(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(25)))
    pipeline = Pipeline.from_dict({
        "name": "counted", "settings": {"batch_size": 10},
        "sources": {"f": {"type": "file", "path": str(data), "format": "json"}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["f"]}},
    })
    store = FileCheckpointStore(tmp_path / "state" / "checkpoints")
    assert pipeline.run(state_dir=tmp_path / "state", handle_signals=False).ok
    assert store.load("counted")["processed_count"] == 25  # 25 records in 3 batches
    with data.open("a") as f:
        f.write("".join(json.dumps({"n": n}) + "\n" for n in range(25, 40)))
    assert pipeline.run(state_dir=tmp_path / "state", handle_signals=False).ok
    assert store.load("counted")["processed_count"] == 40  # the second run read 15 more
