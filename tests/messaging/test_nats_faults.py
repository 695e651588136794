"""NATS fault tests: the pipeline killed between receive and ack, the server killed and restarted."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from conduix.testing import eventually

from .conftest import NatsServer, kill_mid_stream_then_resume, run_async, sink_of, start_pipeline, stop, unique
from .nats_helpers import add_stream, publish, stream_records

pytestmark = pytest.mark.integration("nats")


def test_jetstream_source_sigkill_between_receive_and_ack_loses_nothing(
        nats_url: str, tmp_path: Path, conduix_process: Any) -> None:
    stream, subject, n = unique("S"), unique("kill"), 2000
    run_async(add_stream(nats_url, stream, [subject]))
    run_async(publish(nats_url, [(subject, orjson.dumps({"id": i})) for i in range(n)], stream=True))
    out = tmp_path / "out.jsonl"
    written = kill_mid_stream_then_resume(conduix_process({
        "name": "js_kill", "settings": {"batch_size": 50},
        "sources": {"in": {"type": "nats", "servers": nats_url, "subjects": subject, "max_in_flight": 200,
                           "jetstream": {"stream": stream, "durable": "kill", "ack_wait": 2}}},
        "transforms": {"slow": {"type": "python", "inputs": ["in"], "mode": "batch",
                                "function": "tests.messaging.helpers:slow", "options": {"delay": 0.05}}},
        "sinks": {"out": {"type": "file", "inputs": ["slow"], "path": str(out)}}}), out, n)
    assert set(written) == set(range(n))  # nothing lost
    assert len(written) - n <= 200  # duplicates: at most what was in flight (max_in_flight) at the kill


def test_jetstream_sink_through_server_restart(nats_server: NatsServer, tmp_path: Path) -> None:
    stream, subject, n = unique("S"), unique("restart"), 3000
    run_async(add_stream(nats_server.url, stream, [subject]))
    run = start_pipeline({
        "settings": {"batch_size": 100},
        "sources": {"in": {"type": "list", "records": [{"id": i} for i in range(n)]}},
        "transforms": {"slow": {"type": "python", "inputs": ["in"], "mode": "batch",
                                "function": "tests.messaging.helpers:slow", "options": {"delay": 0.05}}},
        "sinks": {"out": {"type": "nats", "inputs": ["slow"], "servers": nats_server.url, "subject": subject,
                          "reconnect_wait": 0.2, "retry": {"initial": 0.2, "max": 1.0},
                          "jetstream": {"ack_timeout": 2, "msg_id": "{id}"}}}}, tmp_path)
    source = run.nodes["in"].component
    try:
        eventually(lambda: run.nodes["out"].stats.records_out >= 500, 30, "500 records published")
        nats_server.kill()
        time.sleep(2.0)  # sleep-ok: reading must stay bounded for as long as the server is down
        acked = sum(end - start for start, end in source.acknowledged)
        # memory stayed bounded while the server was down: reading stopped (backpressure)
        assert source.index - acked <= 600, (source.index, acked)
        assert source.index < n
        nats_server.start()
        assert run.join(60), run.status()
    finally:
        if not run.done:
            stop(run)
    assert run.error is None, run.error
    stored = [r["id"] for r in run_async(stream_records(nats_server.url, stream))]
    assert set(stored) == set(range(n))  # every acknowledged record is in the stream
    assert len(stored) == n  # retried publishes were deduplicated by Nats-Msg-Id


def test_jetstream_source_consumer_restored_after_server_restart(nats_server: NatsServer, tmp_path: Path) -> None:
    stream, subject = unique("S"), unique("restore")
    run_async(add_stream(nats_server.url, stream, [subject]))
    run = start_pipeline({
        "sources": {"in": {"type": "nats", "servers": nats_server.url, "subjects": subject, "reconnect_wait": 0.2,
                           "retry": {"initial": 0.2, "max": 1.0},
                           "jetstream": {"stream": stream, "durable": "restore"}}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path)
    got = lambda: {r["id"] for r in sink_of(run, "out").records}  # noqa: E731
    try:
        run_async(publish(nats_server.url, [(subject, orjson.dumps({"id": i})) for i in range(50)], stream=True))
        eventually(lambda: got() == set(range(50)), 20, "the first 50 records")
        nats_server.kill()
        time.sleep(1.0)
        nats_server.start()
        run_async(publish(nats_server.url, [(subject, orjson.dumps({"id": i})) for i in range(50, 100)],
                          stream=True))
        eventually(lambda: got() == set(range(100)), 30, "the records published after the restart")
    finally:
        stop(run)
    assert run.error is None
    assert os.path.exists(nats_server.root / "js")  # file storage: the stream outlived the process


def test_source_waits_for_a_server_that_starts_late(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)  # not started yet
    stream, subject = unique("S"), unique("late")
    run = start_pipeline({
        "sources": {"in": {"type": "nats", "servers": server.url, "subjects": subject, "reconnect_wait": 0.2,
                           "jetstream": {"stream": stream, "durable": "late", "create": True}}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path / "state")
    try:
        time.sleep(1.0)  # sleep-ok: the source must not give up meanwhile
        assert not run.done  # still trying to connect, not failed
        server.start()
        eventually(lambda: run.nodes["in"].opened.is_set(), 20, "the source to connect and create the stream")
        run_async(publish(server.url, [(subject, orjson.dumps({"id": i})) for i in range(10)], stream=True))
        eventually(lambda: len(sink_of(run, "out").records) == 10, 20, "the records")
    finally:
        stop(run)
        server.kill()
    assert run.error is None


def test_no_server_fails_after_startup_timeout_naming_it(tmp_path: Path) -> None:
    from .conftest import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    run = start_pipeline({
        "sources": {"in": {"type": "list", "records": [{"id": 1}]}},
        "sinks": {"out": {"type": "nats", "inputs": ["in"], "servers": url, "subject": "x", "startup_timeout": 1,
                          "reconnect_wait": 0.2}}}, tmp_path)
    assert run.join(20)
    assert run.error is not None
    assert url in str(run.error) and "startup_timeout" in str(run.error)


def test_core_subscription_restored_after_server_restart(nats_server: NatsServer, tmp_path: Path) -> None:
    subject = unique("core")
    run = start_pipeline({
        "sources": {"in": {"type": "nats", "servers": nats_server.url, "subjects": f"{subject}.*",
                           "reconnect_wait": 0.2}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path / "state")
    got = lambda: {r["id"] for r in sink_of(run, "out").records}  # noqa: E731
    try:
        eventually(lambda: run.nodes["in"].opened.is_set(), 10, "the subscription")
        run_async(publish(nats_server.url, [(f"{subject}.a", orjson.dumps({"id": i})) for i in range(10)]))
        eventually(lambda: got() == set(range(10)), 10, "the first records")
        nats_server.kill()
        time.sleep(0.5)
        nats_server.start()
        # the client resubscribes after reconnecting; publish until the subscription is back
        eventually(lambda: run_async(publish(nats_server.url, [(f"{subject}.b", orjson.dumps({"id": 99}))]))
                   or 99 in got(), 20, "the subscription to be restored")
    finally:
        stop(run)
    assert run.error is None
