"""The file store: round trip, atomic replacement under SIGKILL, clear errors for bad files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conduix.checkpoint import FallbackCheckpointStore, FileCheckpointStore, merge_checkpoints, open_store
from conduix.errors import CheckpointError, ConfigError
from conduix.testing import eventually
from tests.core.checkpoint.conftest import make_checkpoint


def test_round_trip_list_and_delete(tmp_path):
    store = FileCheckpointStore(tmp_path / "cp")
    assert store.load("orders") is None and store.list() == []
    checkpoint = make_checkpoint("orders", {"kafka_in": (100.5, {"kafka_offsets": {"orders:0": 41}})},
                                 processed=42, stages={"dedupe": {"seen": ["a", "b"]}})
    store.save("orders", checkpoint)
    store.save("weird/../id", make_checkpoint("weird/../id", {}, timestamp=1.0))
    store.save(".hidden", make_checkpoint(".hidden", {}, timestamp=1.0))
    assert store.load("orders") == checkpoint
    assert store.list() == [".hidden", "orders", "weird/../id"]
    assert {p.parent for p in (tmp_path / "cp").iterdir()} == {tmp_path / "cp"}  # ids never escape the dir
    store.delete("orders")
    store.delete("orders")  # deleting twice is fine
    assert store.load("orders") is None
    assert store.list() == [".hidden", "weird/../id"]


def test_a_failed_write_keeps_the_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    store = FileCheckpointStore(tmp_path)
    first = make_checkpoint("p", {"s": (1.0, 1)})
    store.save("p", first)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(CheckpointError, match="No space left"):
        store.save("p", make_checkpoint("p", {"s": (2.0, 2)}))
    monkeypatch.undo()
    assert store.load("p") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


WRITER = """
import sys, time
from conduix.checkpoint import FileCheckpointStore
store = FileCheckpointStore(sys.argv[1])
n = 0
while True:
    n += 1
    store.save("p", {"pipeline": "p", "timestamp": time.time(), "processed_count": n,
                     "sources": {"s": {"timestamp": time.time(), "position": {"blob": "x" * (n % 5000)}}}})
    if n == 1:
        print("ready", flush=True)
"""


def test_sigkill_during_saves_never_leaves_a_torn_checkpoint(tmp_path):
    counts = []
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        # killed part way through its saves (reading meanwhile must never see a torn file either)
        eventually(lambda: FileCheckpointStore(tmp_path).load("p")["processed_count"] >= 50, 20, "50 saves")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        checkpoint = FileCheckpointStore(tmp_path).load("p")
        assert checkpoint is not None
        counts.append(checkpoint["processed_count"])
        assert checkpoint["sources"]["s"]["position"]["blob"] == "x" * (counts[-1] % 5000)
    assert all(count >= 1 for count in counts)


def test_a_corrupt_file_raises_an_error_naming_the_file_and_the_fix(tmp_path):
    store = FileCheckpointStore(tmp_path)
    store.path_for("orders").write_text('{"timestamp": 1.0, "sources": {')
    with pytest.raises(CheckpointError) as caught:
        store.load("orders")
    message = str(caught.value)
    assert str(store.path_for("orders")) in message and "corrupt" in message
    assert "conduix checkpoint reset orders --yes" in message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([1, 2], "expected a JSON object"),
        ({"sources": {}}, "'timestamp' must be a number"),
        ({"timestamp": 1.0, "sources": {"s": {"position": 3}}}, "sources.s must be an object"),
        ({"timestamp": 1.0, "processed_count": "many"}, "'processed_count' must be an integer"),
    ],
)
def test_a_file_of_the_wrong_shape_is_rejected(tmp_path, data, problem):
    store = FileCheckpointStore(tmp_path)
    store.path_for("p").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=problem):
        store.load("p")


def test_saving_a_malformed_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="'timestamp' must be a number"):
        FileCheckpointStore(tmp_path).save("p", {"sources": {}})


def test_merge_keeps_the_newest_entry_per_source():
    redis_side = make_checkpoint("p", {"a": (10.0, "a-redis"), "b": (5.0, "b-redis")}, processed=100,
                                 stages={"agg": "redis"})
    file_side = make_checkpoint("p", {"a": (7.0, "a-file"), "b": (9.0, "b-file"), "c": (1.0, "c-file")},
                                processed=90, stages={"agg": "file"})
    merged = merge_checkpoints(redis_side, file_side)
    assert merged is not None
    assert {sid: entry["position"] for sid, entry in merged["sources"].items()} == {
        "a": "a-redis", "b": "b-file", "c": "c-file"}
    assert merged["timestamp"] == 10.0 and merged["processed_count"] == 100 and merged["stages"] == {"agg": "redis"}
    assert merge_checkpoints(None, file_side) is file_side and merge_checkpoints(redis_side, None) is redis_side


def test_open_store_picks_the_store_from_the_url(tmp_path):
    files = open_store(None, tmp_path)
    assert isinstance(files, FileCheckpointStore) and files.directory == tmp_path / "checkpoints"
    fallback = open_store("redis://127.0.0.1:6379/0", tmp_path)
    assert isinstance(fallback, FallbackCheckpointStore)
    assert fallback.fallback.directory == tmp_path / "checkpoints"  # type: ignore[attr-defined]
    fallback.close()
    with pytest.raises(ConfigError, match="unknown checkpoint store"):
        open_store("mongodb://x", tmp_path)


def test_open_store_defaults_to_the_state_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDUIX_STATE_DIR", str(tmp_path / "st"))
    store = open_store(None)
    assert isinstance(store, FileCheckpointStore) and store.directory == tmp_path / "st" / "checkpoints"
