"""Redis killed or paused during saves: checkpoints go to the file, then are reconciled into Redis."""

from __future__ import annotations

import json
import threading

import pytest

from conduix.checkpoint import FallbackCheckpointStore, FileCheckpointStore, RedisCheckpointStore, open_store
from conduix.testing import eventually
from tests.core.checkpoint.conftest import make_checkpoint

pytestmark = pytest.mark.integration("redis")


def fallback_store(url, directory, retry_after=0.2):
    return FallbackCheckpointStore(RedisCheckpointStore(url, timeout=0.3), FileCheckpointStore(directory),
                                   retry_after=retry_after)


def redis_value(server, pipeline):
    client = server.client()
    try:
        raw = client.get(f"pipeline:{pipeline}:checkpoint")
    finally:
        client.close()
    return None if raw is None else json.loads(raw)


def test_saves_go_on_while_redis_is_killed_and_are_reconciled_after_it_returns(own_redis, tmp_path):
    store = fallback_store(own_redis.url, tmp_path / "cp")
    store.save("p", make_checkpoint("p", {"s": (1.0, 10)}, processed=10))
    assert redis_value(own_redis, "p")["sources"]["s"]["position"] == 10

    own_redis.kill()
    for n in range(2, 6):
        store.save("p", make_checkpoint("p", {"s": (float(n), n * 10)}, processed=n * 10))  # no exception
    assert store.degraded and store.pending == {"p"}
    assert FileCheckpointStore(tmp_path / "cp").load("p")["processed_count"] == 50
    assert store.load("p")["processed_count"] == 50  # served from the file meanwhile

    own_redis.start()  # same port, empty (no persistence)

    def saved_to_redis() -> bool:  # once retry_after has passed, the next save asks Redis again
        store.save("p", make_checkpoint("p", {"s": (6.0, 60)}, processed=60))
        return not store.degraded

    eventually(saved_to_redis, 10, "a save reaching Redis again")
    assert store.pending == set()
    assert redis_value(own_redis, "p")["processed_count"] == 60


def test_reconcile_keeps_the_newest_position_of_each_source(own_redis, tmp_path):
    store = fallback_store(own_redis.url, tmp_path / "cp")
    store.save("p", make_checkpoint("p", {"a": (1.0, "a1"), "b": (1.0, "b1")}))
    own_redis.kill()
    # While Redis is down this host advances source b; another host (sharing Redis) advances source a.
    store.save("p", make_checkpoint("p", {"a": (1.0, "a1"), "b": (5.0, "b5")}, timestamp=5.0))
    own_redis.start()
    other_host = RedisCheckpointStore(own_redis.url)
    other_host.save("p", make_checkpoint("p", {"a": (7.0, "a7"), "b": (1.0, "b1")}, timestamp=7.0, processed=7))
    other_host.close()

    def reconciled() -> dict | None:  # once retry_after has passed, the next call reconciles with Redis
        merged = store.load("p")
        return merged if not store.degraded else None

    merged = eventually(reconciled, 10, "the file's checkpoint reconciled into Redis")
    assert {sid: e["position"] for sid, e in merged["sources"].items()} == {"a": "a7", "b": "b5"}
    assert redis_value(own_redis, "p") == merged
    assert FileCheckpointStore(tmp_path / "cp").load("p") == merged


def test_a_paused_redis_does_not_hang_saves(own_redis, tmp_path):
    store = fallback_store(own_redis.url, tmp_path / "cp", retry_after=0.5)
    store.save("p", make_checkpoint("p", {"s": (1.0, 1)}))
    own_redis.pause()  # SIGSTOP: connections hang instead of failing
    try:
        done = threading.Event()

        def saves():
            for n in range(2, 12):
                store.save("p", make_checkpoint("p", {"s": (float(n), n)}, processed=n))
            done.set()

        threading.Thread(target=saves, daemon=True).start()
        assert done.wait(30), "saves hung on a SIGSTOPped Redis"
        assert store.degraded
        assert FileCheckpointStore(tmp_path / "cp").load("p")["processed_count"] == 11
    finally:
        own_redis.cont()

    def saved_to_redis() -> bool:  # once retry_after has passed, the next save asks Redis again
        store.save("p", make_checkpoint("p", {"s": (12.0, 12)}, processed=12))
        return not store.degraded

    eventually(saved_to_redis, 20, "a save reaching Redis again")
    assert redis_value(own_redis, "p")["processed_count"] == 12


def test_open_store_with_redis_falls_back_to_the_state_dir(own_redis, tmp_path):
    store = open_store(own_redis.url, tmp_path / "state")
    own_redis.kill()
    store.save("p", make_checkpoint("p", {"s": (1.0, 1)}))
    assert (tmp_path / "state" / "checkpoints" / "p.json").exists()
    store.close()


def test_list_and_delete_span_both_stores(own_redis, tmp_path):
    store = fallback_store(own_redis.url, tmp_path / "cp")
    store.save("p", make_checkpoint("p", {"s": (1.0, 1)}))
    assert store.list() == ["p"]
    store.delete("p")
    assert store.load("p") is None and redis_value(own_redis, "p") is None
