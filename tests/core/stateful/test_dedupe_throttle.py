"""dedupe (memory LRU/TTL and the shared Redis) and throttle (drop or route the excess)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from conduix.components import Batch, Context
from conduix.testing import run_pipeline

REDIS_URL = "redis://127.0.0.1:6379/0"


def _run(kind: str, stage: dict[str, Any], records: list[dict[str, Any]], *, batch_size: int = 3,
         **sinks: Any) -> Any:
    return run_pipeline({
        "sources": {"in": {"type": "list", "records": records, "batch_size": batch_size}},
        "transforms": {"s": {"type": kind, "inputs": ["in"], **stage}},
        "sinks": {"out": {"type": "collect", "inputs": ["s"]}, **sinks},
    })


def test_dedupe_in_memory_keeps_the_first_of_each_key_across_batches():
    records = [{"id": i % 4, "user": {"n": i % 2}, "seq": i} for i in range(10)]
    run = _run("dedupe", {"fields": [".id", ".user.n"]}, records)
    assert [r["seq"] for r in run.records("out")] == [0, 1, 2, 3]
    assert run.component("s").duplicates == 6


def test_dedupe_lru_forgets_the_least_recently_seen_keys():
    from conduix.builtins.dedupe import DedupeConfig, DedupeStage

    stage = DedupeStage(DedupeConfig(fields=[".k"], max_size=2), Context("d"))
    out: list[Batch] = []
    for k in ["a", "b", "c", "a"]:  # 'a' was pushed out by 'c'
        stage.process(Batch([{"k": k}]), lambda b, o=None: out.append(b))
    assert [r["k"] for b in out for r in b.records] == ["a", "b", "c", "a"]


@pytest.fixture
def prefix():
    value = f"conduix-test-dedupe-{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{value}*"):
        client.delete(key)
    client.close()


def test_dedupe_in_redis_is_shared_between_runs(prefix):
    stage = {"fields": [".id"], "store": "redis", "url": REDIS_URL, "prefix": prefix, "ttl": "1m"}
    first = _run("dedupe", stage, [{"id": i % 3} for i in range(7)])
    assert first.records("out") == [{"id": 0}, {"id": 1}, {"id": 2}]
    second = _run("dedupe", stage, [{"id": 2}, {"id": 5}])
    assert second.records("out") == [{"id": 5}]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert 0 < client.pttl(f'{prefix}[5]') <= 60_000
    finally:
        client.close()


def test_throttle_routes_the_excess_per_key():
    records = [{"user": "a" if i % 3 else "b", "seq": i} for i in range(12)]
    run = _run("throttle", {"limit": 2, "window": "1h", "key_fields": [".user"], "excess": "route"}, records,
               batch_size=12, throttled={"type": "collect", "inputs": ["s.throttled"]})
    assert [r["seq"] for r in run.records("out")] == [0, 1, 2, 3]
    assert len(run.records("throttled")) == 8 and run.component("s").throttled == 8


def test_throttle_starts_a_new_allowance_in_the_next_window(monkeypatch):
    from conduix.builtins import throttle

    stage = throttle.ThrottleStage(throttle.ThrottleConfig(limit=1, window=10), Context("t"))
    out: list[Batch] = []
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    stage.process(Batch([{"n": 1}, {"n": 2}]), lambda b, o=None: out.append(b))
    now[0] = 1010.0
    stage.process(Batch([{"n": 3}, {"n": 4}]), lambda b, o=None: out.append(b))
    assert [r["n"] for b in out for r in b.records] == [1, 3]
