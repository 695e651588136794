"""``conduix checkpoint show|list|reset`` as an operator runs them."""

from __future__ import annotations

import json

import pytest

from conduix.checkpoint import FileCheckpointStore, RedisCheckpointStore
from tests.conftest import conduix
from tests.core.checkpoint.conftest import SHARED_REDIS_URL, make_checkpoint


def test_show_list_and_reset_with_files(tmp_path):
    state = tmp_path / "state"
    checkpoint = make_checkpoint("orders", {"k": (3.0, {"kafka_offsets": {"orders:0": 5}})}, processed=6)
    FileCheckpointStore(state / "checkpoints").save("orders", checkpoint)

    shown = conduix("checkpoint", "show", "orders", "--state-dir", str(state))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == checkpoint
    assert conduix("checkpoint", "list", "--state-dir", str(state)).stdout.split() == ["orders"]

    refused = conduix("checkpoint", "reset", "orders", "--state-dir", str(state), stdin="n\n")
    assert refused.returncode == 1 and "Aborted" in refused.stderr
    assert FileCheckpointStore(state / "checkpoints").load("orders") == checkpoint

    confirmed = conduix("checkpoint", "reset", "orders", "--state-dir", str(state), stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    missing = conduix("checkpoint", "show", "orders", "--state-dir", str(state))
    assert missing.returncode == 1 and "has no checkpoint" in missing.stderr


def test_state_dir_defaults_to_the_environment(tmp_path):
    FileCheckpointStore(tmp_path / "env-state" / "checkpoints").save("p", make_checkpoint("p", {}, timestamp=1.0))
    shown = conduix("checkpoint", "show", "p", env={"CONDUIX_STATE_DIR": str(tmp_path / "env-state")})
    assert shown.returncode == 0 and json.loads(shown.stdout)["timestamp"] == 1.0


def test_a_corrupt_checkpoint_is_one_clear_line(tmp_path):
    store = FileCheckpointStore(tmp_path / "checkpoints")
    store.directory.mkdir(parents=True)
    store.path_for("p").write_text("{oops")
    shown = conduix("checkpoint", "show", "p", "--state-dir", str(tmp_path))
    assert shown.returncode == 1
    assert "corrupt" in shown.stderr and "Traceback" not in shown.stderr


@pytest.mark.integration("redis")
def test_show_and_reset_in_redis(tmp_path, shared_redis, pipeline_id):
    checkpoint = make_checkpoint(pipeline_id, {"s": (2.0, 2)})
    RedisCheckpointStore(SHARED_REDIS_URL).save(pipeline_id, checkpoint)
    shown = conduix("checkpoint", "show", pipeline_id, "--store", SHARED_REDIS_URL, "--state-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == checkpoint
    reset = conduix("checkpoint", "reset", pipeline_id, "--yes", "--store", SHARED_REDIS_URL,
                    "--state-dir", str(tmp_path))
    assert reset.returncode == 0, reset.stderr
    assert shared_redis.get(f"pipeline:{pipeline_id}:checkpoint") is None
