"""The ``s3`` sink against moto's S3 server: round trips, gzip, csv, multipart, connection resets, and a
crash between upload and checkpoint followed by a restart (the final object set is exact)."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import string
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from tests.conftest import ROOT, conduix
from tests.es.faultproxy import FaultProxy

pytestmark = pytest.mark.integration("s3")

FAST_RETRY = {"initial": 0.02, "max": 0.1, "jitter": 0.1}


def objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def jsonl_records(body: bytes) -> list[dict[str, Any]]:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def write_events(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"n": i, "service": ["api", "web"][i % 2],
                                "timestamp": f"2024-06-0{1 + i % 3}T08:00:00Z"}) + "\n")


def test_round_trip_gzip_jsonl_via_cli(tmp_path: Path, s3_url: str, s3: Any, bucket: str) -> None:
    data = tmp_path / "in.jsonl"
    write_events(data, 500)
    out = tmp_path / "out.jsonl"
    (tmp_path / "to_s3.yaml").write_text(textwrap.dedent(f"""
        name: to_s3
        settings: {{batch_size: 200}}
        sources:
          f: {{type: file, path: "{data}", format: json}}
        sinks:
          s3: {{type: s3, inputs: [f], bucket: {bucket}, endpoint_url: "{s3_url}",
               key_prefix: "logs/{{{{ service }}}}/%Y/%m/%d/"}}
    """))
    (tmp_path / "from_s3.yaml").write_text(textwrap.dedent(f"""
        name: from_s3
        sources:
          s3: {{type: s3, bucket: {bucket}, endpoint_url: "{s3_url}", prefix: logs/, pattern: "*.jsonl.gz"}}
        sinks:
          out: {{type: file, inputs: [s3], path: "{out}"}}
    """))
    proc = conduix("run", str(tmp_path / "to_s3.yaml"))
    assert proc.returncode == 0, proc.stderr
    stored = objects(s3, bucket)
    # 3 batches x 2 services x up to 3 days, one object for each prefix of each batch
    assert len(stored) == 18
    for key, body in stored.items():
        service, year, month, day = key.split("/")[1:5]
        assert key.endswith(".jsonl.gz") and body[:2] == b"\x1f\x8b"
        assert all(r["service"] == service and r["timestamp"].startswith(f"{year}-{month}-{day}")
                   for r in jsonl_records(body))
    proc = conduix("run", str(tmp_path / "from_s3.yaml"))
    assert proc.returncode == 0, proc.stderr
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["n"] for r in back) == list(range(500))
    assert back[0] == jsonl_records(stored[min(stored)])[0]  # keys are read in order


def test_csv_without_compression_round_trips(s3_url: str, s3: Any, bucket: str) -> None:
    records = [{"id": i, "name": f"user,{i}", "tags": ["a", "b"], "ok": i % 2 == 0} for i in range(5)]
    run_pipeline({
        "sources": {"in": {"type": "list", "records": records}},
        "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url,
                         "key_prefix": "csv/", "encoding": "csv", "compression": "none"}},
    })
    (key, body), = objects(s3, bucket).items()
    assert key.startswith("csv/") and key.endswith(".csv")
    assert body.decode().splitlines()[:2] == ["id,name,tags,ok", '0,"user,0","[""a"",""b""]",true']
    run = run_pipeline({
        "sources": {"s3": {"type": "s3", "bucket": bucket, "endpoint_url": s3_url, "format": "csv"}},
        "sinks": {"out": {"type": "collect", "inputs": ["s3"]}},
    })
    assert run.records("out")[1] == {"id": "1", "name": "user,1", "tags": '["a","b"]', "ok": "false"}
    assert run.component("out").meta[4] == {"source": "s3", "bucket": bucket, "key": key, "line": 5}


def test_large_objects_go_as_multipart_uploads(s3_url: str, s3: Any, bucket: str) -> None:
    rng = random.Random(7)
    payload = "".join(rng.choices(string.ascii_letters, k=1000))
    records = [{"n": i, "payload": payload} for i in range(11_000)]  # about 11 MiB of jsonl
    run = run_pipeline({
        "settings": {"batch_size": 11_000},
        "sources": {"in": {"type": "list", "records": records}},
        "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url,
                         "compression": "none", "multipart_threshold": 5 * 2**20,
                         "multipart_chunksize": 5 * 2**20}},
    })
    assert run.component("s3").multipart_uploads == 1
    (key, body), = objects(s3, bucket).items()
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"').endswith("-3")  # three parts
    assert [r["n"] for r in jsonl_records(body)] == list(range(11_000))


def test_size_limits_split_a_batch_into_several_objects(s3_url: str, s3: Any, bucket: str) -> None:
    run_pipeline({
        "settings": {"batch_size": 100},
        "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(250)]}},
        "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url,
                         "max_object_records": 40}},
    })
    stored = objects(s3, bucket)
    sizes = sorted(len(jsonl_records(b)) for b in stored.values())
    assert sizes == [10, 20, 20, 40, 40, 40, 40, 40]  # batches of 100, 100, 50 cut at 40 records
    assert sorted(r["n"] for b in stored.values() for r in jsonl_records(b)) == list(range(250))


def test_connection_resets_and_503s_on_upload_are_retried(s3_url: str, s3: Any, bucket: str) -> None:
    proxy = FaultProxy(s3_url)
    try:
        proxy.reset_before["PUT"] = 2
        proxy.fail_next.append(("PUT", 503))
        run = run_pipeline({
            "settings": {"batch_size": 30},
            "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(90)]}},
            "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": proxy.url,
                             "max_attempts": 1, "retry": FAST_RETRY}},
        })
    finally:
        proxy.close()
    assert proxy.injected == 3
    assert run.result.stats["s3"].retries == 3
    stored = objects(s3, bucket)
    assert len(stored) == 3
    assert sorted(r["n"] for b in stored.values() for r in jsonl_records(b)) == list(range(90))


def test_store_down_then_back_records_wait_in_bounded_queues_then_arrive(tmp_path: Path, s3_url: str, s3: Any,
                                                                         bucket: str) -> None:
    proxy = FaultProxy(s3_url)
    proxy.down = True
    try:
        spec = pipeline_from_dict({
            "settings": {"batch_size": 50, "queue_size": 2},
            "sources": {"gen": {"type": "generate", "count": 1000, "sequence_field": "n"}},
            "sinks": {"s3": {"type": "s3", "inputs": ["gen"], "bucket": bucket, "endpoint_url": proxy.url,
                             "max_attempts": 1, "retry": FAST_RETRY}},
        }, registry=test_registry())
        run = PipelineRun(spec, state_dir=tmp_path / "state").start()
        try:
            eventually(lambda: run.stats()["s3"].retries >= 20, 20, "20 retries while the server is down")
            read = run.stats()["gen"].records_in
            assert read <= (2 + 2) * 50, read  # held by backpressure, not piling up in memory
        finally:
            proxy.down = False
        assert run.join(60)
        run.raise_for_error()
    finally:
        proxy.close()
    stored = objects(s3, bucket)
    assert len(stored) == 20
    assert sorted(r["n"] for b in stored.values() for r in jsonl_records(b)) == list(range(1000))


def test_missing_key_prefix_fields_go_to_dead_letters(s3_url: str, s3: Any, bucket: str) -> None:
    run = run_pipeline({
        "sources": {"in": {"type": "list", "records": [{"n": 1, "svc": "a"}, {"n": 2}, {"n": 3, "svc": "b"}]}},
        "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url,
                         "key_prefix": "{{ svc }}/", "on_error": "dead_letter"},
                  "dlq": {"type": "collect", "inputs": ["s3.dead_letter"]}},
    })
    assert sorted(k.split("/")[0] for k in objects(s3, bucket)) == ["a", "b"]
    (letter,) = run.records("dlq")
    assert letter["record"] == {"n": 2} and "field 'svc'" in letter["error"]


def _pipeline(tmp_path: Path, data: Path, bucket: str, s3_url: str, name: str, checkpoint: float = 0.3) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""
        name: crash_s3
        settings: {{batch_size: 50, checkpoint: {{interval: {checkpoint}}}}}
        sources:
          f: {{type: file, path: "{data}", format: json}}
        transforms:
          slow: {{type: python, inputs: [f], mode: batch, function: "tests.crash_points:pause"}}
        sinks:
          s3: {{type: s3, inputs: [slow], bucket: {bucket}, endpoint_url: "{s3_url}", key_prefix: "{{{{ service }}}}/"}}
    """))
    return path


def test_crash_between_upload_and_checkpoint_then_restart_gives_the_exact_object_set(
        tmp_path: Path, s3_url: str, s3: Any, bucket: str) -> None:
    data = tmp_path / "in.jsonl"
    write_events(data, 1000)
    # the reference: the same pipeline run without a crash, into another bucket
    s3.create_bucket(Bucket=bucket + "-ref")
    proc = conduix("run", str(_pipeline(tmp_path, data, bucket + "-ref", s3_url, "ref")),
                   env={"CONDUIX_STATE_DIR": str(tmp_path / "ref-state")})
    assert proc.returncode == 0, proc.stderr
    reference = objects(s3, bucket + "-ref")
    # no checkpoint before the kill (the first is due in an hour), and the 9th batch is held until the kill:
    # 8 batches' objects are uploaded, and the restart uploads every object again
    pipeline = _pipeline(tmp_path, data, bucket, s3_url, "crash", checkpoint=3600)
    env = {**os.environ, "CONDUIX_STATE_DIR": str(tmp_path / "state"), "CONDUIX_TEST_HOLD_AFTER": "8"}
    victim = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(pipeline)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        eventually(lambda: len(objects(s3, bucket)) >= 16, 60, "the 16 objects of 8 batches before the crash")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    before = objects(s3, bucket)
    assert len(before) == 16 < len(reference), "the crash comes part way through"
    assert not list((tmp_path / "state").rglob("checkpoints/*.json")), "uploaded, not yet checkpointed"
    proc = conduix("run", str(pipeline), env={"CONDUIX_STATE_DIR": str(tmp_path / "state")})
    assert proc.returncode == 0, proc.stderr
    after = objects(s3, bucket)
    assert sorted(after) == sorted(reference)  # the same keys: replayed batches overwrote, none added
    assert all(after[key] == reference[key] for key in after)  # the same bytes (gzip without timestamps)
    assert sorted(r["n"] for b in after.values() for r in jsonl_records(b)) == list(range(1000))


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("s3_*.yaml")))
def test_examples_are_valid(example: str) -> None:
    proc = conduix("validate", f"examples/{example}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_replay_writes_the_same_keys_even_without_record_times(s3_url: str, s3: Any, bucket: str) -> None:
    config = {
        "settings": {"batch_size": 10},
        "sources": {"in": {"type": "list", "records": [{"n": i} for i in range(30)]}},  # no timestamp field
        "sinks": {"s3": {"type": "s3", "inputs": ["in"], "bucket": bucket, "endpoint_url": s3_url}},
    }
    run_pipeline(config)
    first = objects(s3, bucket)
    time.sleep(1.1)  # sleep-ok: the clock moves on; a key must not carry the time of writing
    run_pipeline(config)
    assert objects(s3, bucket) == first and len(first) == 3


def test_the_archive_example_runs(tmp_path: Path, s3_url: str, s3: Any, bucket: str) -> None:
    logs = tmp_path / "app.jsonl"
    write_events(logs, 100)
    logs.write_text(logs.read_text() + '{"n": 100, "timestamp": "2024-06-01T08:00:00Z"}\n')  # no 'service'
    rejects = tmp_path / "rejects.jsonl"
    proc = conduix("run", "examples/s3_archive_logs.yaml", env={
        "LOGS": str(logs), "S3_BUCKET": bucket, "S3_ENDPOINT": s3_url, "REJECTS": str(rejects)})
    assert proc.returncode == 3, proc.stderr  # records failed on purpose: completed with errors
    assert "record errors (archive: 1)" in proc.stderr
    stored = objects(s3, bucket)
    assert {key.rsplit("/", 1)[0] for key in stored} == {f"logs/{s}/2024/06/0{d}" for s in ("api", "web")
                                                           for d in (1, 2, 3)}
    assert sorted(r["n"] for b in stored.values() for r in jsonl_records(b)) == list(range(100))
    assert json.loads(rejects.read_text())["record"]["n"] == 100
