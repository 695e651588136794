"""enrich against a CSV/JSON file (reloaded on change), the shared Redis and a local HTTP server."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from conduix.components import Batch, Context
from conduix.testing import run_pipeline

REDIS_URL = "redis://127.0.0.1:6379/0"


def _run(stage: dict[str, Any], records: list[dict[str, Any]], *, batch_size: int = 100, **extra: Any) -> Any:
    return run_pipeline({
        "sources": {"in": {"type": "list", "records": records, "batch_size": batch_size}},
        "transforms": {"enrich": {"type": "enrich", "inputs": ["in"], **stage}},
        "sinks": {"out": {"type": "collect", "inputs": ["enrich"]}, **extra},
    })


def test_csv_table_merges_fields_and_handles_misses(tmp_path):
    table = tmp_path / "users.csv"
    table.write_text("id,name,tier\n1,ada,gold\n2,bob,silver\n")
    records = [{"user": 1}, {"user": 3}, {"user": 2}]
    run = _run({"key": ".user", "table": {"type": "file", "path": str(table), "key_field": "id"},
                "fields": ["name"], "on_miss": "default", "default": {"name": "unknown"}}, records)
    assert run.records("out") == [{"user": 1, "name": "ada"}, {"user": 3, "name": "unknown"},
                                  {"user": 2, "name": "bob"}]
    dropped = _run({"key": ".user", "table": {"type": "file", "path": str(table), "key_field": "id"},
                    "on_miss": "drop", "target": ".profile"}, records)
    assert dropped.records("out") == [{"user": 1, "profile": {"id": "1", "name": "ada", "tier": "gold"}},
                                      {"user": 2, "profile": {"id": "2", "name": "bob", "tier": "silver"}}]


def test_file_table_is_reloaded_when_the_file_changes(tmp_path):
    from conduix.builtins.enrich import EnrichConfig, EnrichStage

    table = tmp_path / "skus.json"
    table.write_text(json.dumps({"a": {"price": 1}}))
    stage = EnrichStage(EnrichConfig.model_validate({"key": ".sku", "table": {"type": "file", "path": str(table)}}),
                        Context("enrich"))
    stage.open()
    out: list[Batch] = []
    stage.process(Batch([{"sku": "a"}]), lambda b, o=None: out.append(b))
    table.write_text(json.dumps({"a": {"price": 2}, "b": {"price": 3}}))
    os.utime(table, ns=(time.time_ns(), time.time_ns() + 10**9))  # a different mtime even on coarse clocks
    stage.process(Batch([{"sku": "a"}, {"sku": "b"}]), lambda b, o=None: out.append(b))
    assert [r["price"] for b in out for r in b.records] == [1, 2, 3]
    assert stage.table.loads == 2  # type: ignore[attr-defined]


@pytest.fixture
def redis_prefix():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"conduix-test-enrich-{uuid.uuid4().hex[:8]}:"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_redis_hash_and_key_tables_with_the_cache(redis_prefix):
    client, prefix = redis_prefix
    client.hset(f"{prefix}1", mapping={"name": "ada", "tier": "gold"})
    client.hset(f"{prefix}2", mapping={"name": "bob"})
    client.set(f"{prefix}sku-1", json.dumps({"price": 9.5}))
    records = [{"user": i % 3} for i in range(30)]  # users 0 (missing), 1 and 2
    run = _run({"key": ".user", "table": {"type": "redis", "url": REDIS_URL, "prefix": prefix},
                "target": ".u"}, records, batch_size=10)
    got = run.records("out")
    assert got[1] == {"user": 1, "u": {"name": "ada", "tier": "gold"}} and got[0] == {"user": 0}
    stage = run.component("enrich")
    assert (stage.cache_misses, stage.cache_hits, stage.lookups) == (3, 6, 1)  # 3 batches, 3 distinct keys
    assert stage.misses == 10
    by_key = _run({"key": ".sku", "table": {"type": "redis", "url": REDIS_URL, "prefix": prefix, "mode": "key"}},
                  [{"sku": "sku-1"}, {"sku": "sku-2"}])
    assert by_key.records("out") == [{"sku": "sku-1", "price": 9.5}, {"sku": "sku-2"}]


class _Api(BaseHTTPRequestHandler):
    requests: list[str] = []
    fail_for: set[str] = set()

    def do_GET(self) -> None:
        key = self.path.rsplit("/", 1)[-1]
        _Api.requests.append(key)
        if key in _Api.fail_for:
            self.send_response(503)
            self.end_headers()
            return
        if not key.isdigit():
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"id": int(key), "square": int(key) ** 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api():
    _Api.requests, _Api.fail_for = [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_table_caches_lookups(api):
    records = [{"n": i % 4} for i in range(40)] + [{"n": "nope"}]
    run = _run({"key": ".n", "table": {"type": "http", "url": api + "/squares/{key}"}, "target": ".sq",
                "fields": ["square"]}, records, batch_size=8)
    got = run.records("out")
    assert [r["sq"]["square"] for r in got[:4]] == [0, 1, 4, 9] and got[-1] == {"n": "nope"}
    assert sorted(_Api.requests) == ["0", "1", "2", "3", "nope"]  # each key fetched once
    stage = run.component("enrich")
    assert stage.cache_misses == 5 and stage.cache_hits == 16


def test_lookup_errors_are_retried_then_go_to_dead_letters(api):
    _Api.fail_for = {"13"}
    records = [{"n": 1}, {"n": 13}, {"n": 2}]
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": records}},
        "transforms": {"enrich": {"type": "enrich", "inputs": ["in"], "on_error": "dead_letter",
                                  "retry": {"initial": 0.01, "max": 0.02, "max_attempts": 3},
                                  "key": ".n", "table": {"type": "http", "url": api + "/{key}"}}},
        "sinks": {"out": {"type": "collect", "inputs": ["enrich"]},
                  "dlq": {"type": "collect", "inputs": ["enrich.dead_letter"]}},
    })
    assert [r["square"] for r in run.records("out")] == [1, 4]
    [dead] = run.records("dlq")
    assert dead["record"] == {"n": 13} and "503" in dead["error"] and dead["component"] == "enrich"
    assert _Api.requests.count("13") >= 3
    assert run.result.stats["enrich"].retries >= 2


def test_an_unreachable_redis_is_retried_then_the_error_policy_applies():
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"k": 1}, {"k": 2}]}},
        "transforms": {"enrich": {"type": "enrich", "inputs": ["in"], "on_error": "drop",
                                  "retry": {"initial": 0.01, "max": 0.02, "max_attempts": 2}, "key": ".k",
                                  "table": {"type": "redis", "url": "redis://127.0.0.1:1/0", "timeout": 0.5}}},
        "sinks": {"out": {"type": "collect", "inputs": ["enrich"]}},
    })
    assert run.records("out") == []
    stats = run.result.stats["enrich"]
    assert stats.retries >= 1 and stats.dropped == 2
    assert run.component("in").acknowledged == [(0, 2)]  # dropped records count as handled
