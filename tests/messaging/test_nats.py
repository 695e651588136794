"""NATS source and sink against the machine's NATS server (core subjects and JetStream)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import nats
import orjson
import pytest

from conduix.errors import ConfigError
from conduix.testing import eventually, run_pipeline
from conduix_messaging._common import decode_payload

from .conftest import run_async, sink_of, start_pipeline, stop, unique
from .nats_helpers import add_stream, consumer_state, publish, stream_records

pytestmark = pytest.mark.integration("nats")


def test_core_queue_group_shares_wildcard_subjects(nats_url: str, tmp_path: Path) -> None:
    base = unique("core")

    def config(name: str) -> dict:
        return {"name": name, "settings": {"batch_size": 50},
                "sources": {"in": {"type": "nats", "servers": nats_url, "subjects": [f"{base}.>"],
                                   "queue_group": "workers"}},
                "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}

    runs = [start_pipeline(config(f"q{i}"), tmp_path / f"s{i}") for i in range(2)]
    try:
        for run in runs:
            eventually(lambda run=run: run.nodes["in"].opened.is_set(), 10, "the source to subscribe")
        messages = [(f"{base}.{'eu' if i % 2 else 'us'}.orders", orjson.dumps({"n": i})) for i in range(200)]
        run_async(publish(nats_url, messages))
        got = lambda: [r["n"] for run in runs for r in sink_of(run, "out").records]  # noqa: E731
        eventually(lambda: len(got()) >= 200, 20, "200 records across the queue group")
    finally:
        for run in runs:
            stop(run)
    assert sorted(got()) == list(range(200))  # each message went to exactly one member
    assert all(sink_of(run, "out").records for run in runs)  # and both members got some
    meta = sink_of(runs[0], "out").meta[0]
    assert meta["subject"].startswith(base + ".") and meta["subject"].endswith(".orders")
    for run in runs:  # each member numbers what it received, 1, 2, 3... (read when a component asks)
        metas = sink_of(run, "out").meta
        assert [list(m) for m in metas] == [["source", "subject", "position"]] * len(metas)
        assert [m["position"] for m in metas] == [f"{m['subject']}#{k}" for k, m in enumerate(metas, 1)]


def test_core_sink_fills_subject_template(nats_url: str) -> None:
    base = unique("tmpl")
    received: list[tuple[str, dict]] = []

    async def scenario() -> None:
        nc = await nats.connect(nats_url)
        sub = await nc.subscribe(f"{base}.>")
        await nc.flush()
        await asyncio.to_thread(run_pipeline, {
            "sources": {"in": {"type": "list", "records": [{"id": i, "region": ["eu", "us"][i % 2]}
                                                           for i in range(20)] + [{"id": 99}]}},
            "sinks": {"out": {"type": "nats", "inputs": ["in"], "servers": nats_url,
                              "subject": base + ".{region}", "on_error": "drop"}}})
        while len(received) < 20:
            msg = await sub.next_msg(timeout=5)
            received.append((msg.subject, orjson.loads(msg.data)))
        await nc.close()

    import asyncio

    asyncio.run(scenario())
    assert sorted(r["id"] for _, r in received) == list(range(20))  # id 99 has no region: dropped, not sent
    assert all(subject == f"{base}.{r['region']}" for subject, r in received)


def test_jetstream_sink_returns_after_stream_acks(nats_url: str) -> None:
    stream, subject = unique("S"), unique("js")
    run_async(add_stream(nats_url, stream, [f"{subject}.>"]))
    records = [{"id": i, "kind": "a" if i % 3 else "b"} for i in range(500)]
    result = run_pipeline({
        "settings": {"batch_size": 100},
        "sources": {"in": {"type": "list", "records": records}},
        "sinks": {"out": {"type": "nats", "inputs": ["in"], "servers": nats_url, "subject": subject + ".{kind}",
                          "jetstream": {"expected_stream": stream, "msg_id": "{id}"}}}})
    assert result.component("in").acknowledged  # every batch was acknowledged upstream
    stored = run_async(stream_records(nats_url, stream))
    assert stored == records  # in order, each exactly once


def test_jetstream_sink_wrong_stream_goes_to_dead_letter(nats_url: str) -> None:
    stream, subject = unique("S"), unique("js")
    run_async(add_stream(nats_url, stream, [subject]))
    result = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"id": 1}, {"id": 2}]}},
        "sinks": {"out": {"type": "nats", "inputs": ["in"], "servers": nats_url, "subject": subject,
                          "jetstream": {"expected_stream": "NOT_" + stream}, "on_error": "dead_letter"},
                  "dead": {"type": "collect", "inputs": ["out.dead_letter"]}}})
    dead = result.records("dead")
    assert [d["record"]["id"] for d in dead] == [1, 2]
    assert "stream" in dead[0]["error"].lower()


def test_jetstream_source_acks_after_write_and_rejects_bad_json(nats_url: str, tmp_path: Path) -> None:
    stream, subject = unique("S"), unique("js")
    run_async(add_stream(nats_url, stream, [subject]))
    payloads = [orjson.dumps({"id": i}) for i in range(30)]
    payloads[7] = b"{not json"
    payloads[21] = b"\xff\xfe"
    run_async(publish(nats_url, [(subject, p) for p in payloads], stream=True))
    run = start_pipeline({
        "settings": {"batch_size": 8},
        "sources": {"in": {"type": "nats", "servers": nats_url, "subjects": subject, "on_error": "dead_letter",
                           "jetstream": {"stream": stream, "durable": "c1"}}},
        "sinks": {"out": {"type": "collect", "inputs": ["in"]},
                  "dead": {"type": "collect", "inputs": ["in.dead_letter"]}}}, tmp_path)
    try:
        eventually(lambda: len(sink_of(run, "out").records) == 28 and len(sink_of(run, "dead").records) == 2,
                   20, "28 good and 2 dead-lettered records")
        eventually(lambda: run_async(consumer_state(nats_url, stream, "c1")) == (0, 0), 10,
                   "every message, bad ones included, to be acknowledged")
    finally:
        stop(run)
    good = sink_of(run, "out")
    assert [r["id"] for r in good.records] == [i for i in range(30) if i not in (7, 21)]
    assert good.meta[0]["stream"] == stream and good.meta[0]["stream_seq"] == 1
    dead = sink_of(run, "dead").records
    assert [d["position"] for d in dead] == [f"position {stream}#8", f"position {stream}#22"]
    assert dead[0]["record"] == {"message": "{not json"} and "invalid JSON" in dead[0]["error"]
    assert "raw_base64" not in dead[0] and base64.b64decode(dead[1]["raw_base64"]) == b"\xff\xfe"


def test_text_bodies_that_are_not_utf8_are_refused_not_replaced() -> None:
    assert decode_payload("caf\u00e9".encode(), "text") == {"message": "caf\u00e9"}
    with pytest.raises(ValueError, match="not valid UTF-8"):
        decode_payload(b"caf\xe9", "text")


def test_jetstream_source_naks_on_failure_and_redelivers(nats_url: str, tmp_path: Path) -> None:
    stream, subject = unique("S"), unique("js")
    run_async(add_stream(nats_url, stream, [subject]))
    run_async(publish(nats_url, [(subject, orjson.dumps({"id": i})) for i in range(40)], stream=True))
    source = {"type": "nats", "servers": nats_url, "subjects": subject,
              "jetstream": {"stream": stream, "durable": "c1", "nak_delay": 0.2, "ack_wait": 30}}
    failed = start_pipeline({"settings": {"batch_size": 10}, "sources": {"in": source},
                             "sinks": {"out": {"type": "collect", "inputs": ["in"], "fail_on": 2}}}, tmp_path / "a")
    assert failed.join(20) and failed.error is not None  # the sink failed on its second batch
    written = {r["id"] for r in sink_of(failed, "out").records}
    assert 0 < len(written) <= 10
    # nak'ed at close: redelivered at once, not after the 30 s ack_wait
    run = start_pipeline({"settings": {"batch_size": 10}, "sources": {"in": source},
                          "sinks": {"out": {"type": "collect", "inputs": ["in"]}}}, tmp_path / "b")
    try:
        eventually(lambda: written | {r["id"] for r in sink_of(run, "out").records} == set(range(40)), 15,
                   "the unacknowledged messages to be redelivered")
    finally:
        stop(run)
    redelivered = [m for m in sink_of(run, "out").meta if m["num_delivered"] > 1]
    assert redelivered, "messages read by the failed run come back marked as redeliveries"


def test_jetstream_source_config_errors() -> None:
    with pytest.raises(ConfigError, match="one subject"):
        run_pipeline({"sources": {"in": {"type": "nats", "subjects": ["a", "b"],
                                         "jetstream": {"stream": "S", "durable": "d"}}},
                      "sinks": {"out": {"type": "collect", "inputs": ["in"]}}})
    with pytest.raises(ConfigError, match="durabel"):
        run_pipeline({"sources": {"in": {"type": "nats", "subjects": ["a"],
                                         "jetstream": {"stream": "S", "durabel": "d"}}},
                      "sinks": {"out": {"type": "collect", "inputs": ["in"]}}})


def test_jetstream_messages_held_by_a_slow_sink_are_not_redelivered(nats_url: str, tmp_path: Path) -> None:
    stream, subject = unique("S"), unique("slow")
    run_async(add_stream(nats_url, stream, [subject]))
    run_async(publish(nats_url, [(subject, orjson.dumps({"id": i})) for i in range(20)], stream=True))
    # the slow stage has a thread of its own (two inputs), so the source keeps fetching meanwhile:
    # without in-progress signals the server would redeliver after the 1 s ack_wait
    run = start_pipeline({
        "sources": {"in": {"type": "nats", "servers": nats_url, "subjects": subject,
                           "jetstream": {"stream": stream, "durable": "slow", "ack_wait": 1}},
                    "nothing": {"type": "list", "records": []}},
        "transforms": {"slow": {"type": "python", "inputs": ["in", "nothing"], "mode": "batch",
                                "function": "tests.messaging.helpers:slow", "options": {"delay": 2.5}}},
        "sinks": {"out": {"type": "collect", "inputs": ["slow"]}}}, tmp_path)
    try:
        eventually(lambda: len(sink_of(run, "out").records) >= 20, 30, "the 20 records")
        eventually(lambda: run_async(consumer_state(nats_url, stream, "slow")) == (0, 0), 10, "the acks")
        time.sleep(1.5)  # sleep-ok: more than ack_wait, a redelivery would show up now
    finally:
        stop(run)
    assert sorted(r["id"] for r in sink_of(run, "out").records) == list(range(20))
    assert all(m["num_delivered"] == 1 for m in sink_of(run, "out").meta)
