"""The ``s3`` source against moto's S3 server: formats, gzip detection, bad lines, resuming from a
checkpoint, and watching a prefix for new objects."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from conduix import Context
from conduix.config import pipeline_from_dict
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from conduix_s3 import S3Source, S3SourceConfig
from tests.es.faultproxy import FaultProxy

pytestmark = pytest.mark.integration("s3")


def lines(start: int, end: int) -> bytes:
    return "".join(json.dumps({"n": n}) + "\n" for n in range(start, end)).encode()


def put_objects(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/a.jsonl", Body=lines(0, 25))
    s3.put_object(Bucket=bucket, Key="in/b-empty.jsonl", Body=b"")
    s3.put_object(Bucket=bucket, Key="in/c.data", Body=gzip.compress(lines(25, 60)))  # gzip, no .gz suffix
    s3.put_object(Bucket=bucket, Key="in/d.jsonl", Body=lines(60, 73))
    s3.put_object(Bucket=bucket, Key="other/e.jsonl", Body=lines(100, 110))  # outside the prefix


def test_reads_a_prefix_in_key_order_detecting_gzip(s3_url: str, s3: Any, bucket: str) -> None:
    put_objects(s3, bucket)
    run = run_pipeline({
        "settings": {"batch_size": 10},
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "prefix": "in/"}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]}},
    })
    assert [r["n"] for r in run.records("out")] == list(range(73))
    meta = run.component("out").meta
    assert meta[30] == {"source": "s3", "bucket": bucket, "key": "in/c.data", "line": 6}
    done = run_pipeline({  # a pattern narrows the listing
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "prefix": "in/",
                           "pattern": "*.jsonl", "format": "lines"}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]}},
    })
    assert len(done.records("out")) == 38 and done.records("out")[0] == {"message": '{"n": 0}'}


def test_invalid_lines_go_to_dead_letters_with_their_key_and_line(s3_url: str, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="x.jsonl", Body=b'{"n": 1}\n{"n": oops}\n\n{"n": 3}\n')
    run = run_pipeline({
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "on_error": "dead_letter"}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]}, "dlq": {"type": "collect",
                                                                      "inputs": ["s3.dead_letter"]}},
    })
    assert run.records("out") == [{"n": 1}, {"n": 3}]
    (letter,) = run.records("dlq")
    assert letter["record"] == {"message": '{"n": oops}'} and letter["error"].startswith("invalid JSON")
    assert letter["metadata"]["key"] == "x.jsonl" and letter["metadata"]["line"] == 2


def test_resumes_from_its_checkpoint_skipping_finished_objects_and_acknowledged_lines(
        s3_url: str, s3: Any, bucket: str) -> None:
    put_objects(s3, bucket)
    config = S3SourceConfig(bucket=bucket, endpoint_url=s3_url, prefix="in/")
    first = S3Source(config, Context("s3"))
    first.open()
    batches = []
    while len(batches) < 5:  # a(10) a(10) a(5) b-empty c(10)
        batch = first.read(10)
        assert batch is not None
        batches.append(batch)
    acked = [b for i, b in enumerate(batches) if i != 1]  # the second batch of a.jsonl is not acknowledged
    for batch in reversed(acked):
        first.acknowledge(batch.position)
    state = json.loads(json.dumps(first.checkpoint()))  # what the runtime stores
    first.close()
    assert state["after"] is None  # a.jsonl is not finished, so nothing below it is done
    assert state["done"] == ["in/b-empty.jsonl"] and state["partial"] == {"in/a.jsonl": 10, "in/c.data": 10}

    second = S3Source(config, Context("s3"))
    second.restore(state)
    second.open()
    seen = [r["n"] for b in acked for r in b.records]
    while (batch := second.read(10)) is not None:
        seen += [r["n"] for r in batch.records]
        second.acknowledge(batch.position)
    assert sorted(set(seen)) == list(range(73))  # nothing lost
    # repeated: only what was acknowledged above the gap in a.jsonl (at-least-once, bounded)
    assert sorted(n for n in set(seen) if seen.count(n) > 1) == list(range(20, 25))
    final = second.checkpoint()
    second.close()
    assert final["after"] == "in/d.jsonl" and final["done"] == [] and final["partial"] == {}


def test_watch_picks_up_new_objects(tmp_path: Path, s3_url: str, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="w/2024-01-01.jsonl", Body=lines(0, 5))
    spec = pipeline_from_dict({
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "prefix": "w/", "watch": True,
                           "poll_interval": 0.1}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    sink = run.nodes["out"].component
    try:
        eventually(lambda: len(sink.records) >= 5, 20, "the first object's 5 records")
        s3.put_object(Bucket=bucket, Key="w/2024-01-02.jsonl", Body=lines(5, 12))
        eventually(lambda: len(sink.records) >= 12, 20, "the records of the object put later")
    finally:
        run.stop()
    assert run.join(20)
    run.raise_for_error()
    assert [r["n"] for r in sink.records] == list(range(12))


def test_workers_split_the_keys_between_them(s3_url: str, s3: Any, bucket: str) -> None:
    for k in range(12):
        s3.put_object(Bucket=bucket, Key=f"s/{k:02d}.jsonl", Body=lines(k * 10, k * 10 + 10))
    config = S3SourceConfig(bucket=bucket, endpoint_url=s3_url, prefix="s/")
    keys: list[set[str]] = []
    numbers: list[int] = []
    for index in range(3):
        source = S3Source(config, Context("s3", slice_index=index, slice_count=3))
        source.open()
        mine = set()
        while (batch := source.read(100)) is not None:
            mine |= {m["key"] for m in batch.meta or []}
            numbers += [r["n"] for r in batch.records]
        source.close()
        keys.append(mine)
    assert all(keys) and sum(len(k) for k in keys) == 12  # every worker has some, none shares a key
    assert sorted(numbers) == list(range(120))


def test_a_download_cut_off_half_way_resumes_after_the_last_line_read(s3_url: str, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="big.jsonl", Body=lines(0, 20_000))  # about 250 KiB
    proxy = FaultProxy(s3_url)
    proxy.truncate["/big.jsonl"] = 1
    try:
        run = run_pipeline({
            "settings": {"batch_size": 4000},
            "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": proxy.url, "max_attempts": 1,
                               "retry": {"initial": 0.02, "max": 0.1}}},
            "sinks": {"out": {"type": "collect", "inputs": ["s3"]}},
        })
    finally:
        proxy.close()
    assert proxy.injected == 1
    assert [r["n"] for r in run.records("out")] == list(range(20_000))  # nothing lost, nothing repeated
    # the lines read before the cut went on in a short batch; the object was opened again after them
    assert run.result.stats["s3"].batches_in > 5
