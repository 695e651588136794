"""file -> s3 (gzip jsonl) over 100,000 records, against a moto S3 server started here.

Baseline: a plain loop doing the same work with boto3 in the same process: make a client (a new session,
as the sink does when it opens), read the file, parse each JSON line, and per 1,000 records encode them as
JSON lines, gzip them (level 6, the sink's default) and put one object. Both clocks run from before the
client is made to the last object uploaded (Conduix: until the run ended). Target (issue 7): the ratio is
at least 0.8. ``s3_sink_write_path``: the sink's ``write`` alone on batches in memory against ``_put``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from _measure import Timing, alternating, measure, result

N = 100_000
BATCH = 1000
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = _free_port()
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("moto_server did not start")


def _write_input(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "service": "api", "level": "info", "bytes": 512 + i % 100,
                                "message": f"GET /api/orders/{i} 200", "timestamp": "2024-05-01T12:00:00Z"}) + "\n")


def baseline(url: str, path: Path, bucket: str) -> Timing:
    import boto3
    import orjson

    with measure() as timing:
        # a client of its own, as the sink makes one when it opens (a new session: the S3 model loaded again)
        client = boto3.session.Session().client("s3", endpoint_url=url, region_name="us-east-1")
        part = 0
        with path.open("rb") as f:
            chunk: list[dict] = []
            for line in f:
                chunk.append(orjson.loads(line))
                if len(chunk) == BATCH:
                    _put(client, bucket, part, chunk)
                    part, chunk = part + 1, []
            if chunk:
                _put(client, bucket, part, chunk)
        client.close()
    return timing


def _put(client, bucket: str, part: int, records: list[dict]) -> None:
    import orjson

    body = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records), compresslevel=6, mtime=0)
    client.put_object(Bucket=bucket, Key=f"part-{part:06d}.jsonl.gz", Body=body, ContentType="application/gzip")


def conduix(url: str, path: Path, bucket: str, state_dir: str) -> Timing:
    from conduix import Pipeline

    pipeline = Pipeline.from_dict({
        "name": "bench_s3",
        "settings": {"batch_size": BATCH},
        "sources": {"f": {"type": "file", "path": str(path), "format": "json"}},
        "sinks": {"s3": {"type": "s3", "inputs": ["f"], "bucket": bucket, "endpoint_url": url,
                         "region": "us-east-1"}},
    })
    with measure() as timing:  # validated before, as the baseline's imports are done before its clock
        result = pipeline.run(handle_signals=False, state_dir=state_dir)
    assert result.ok, result.error
    assert result.stats["s3"].records_out == N
    return timing


def sink_only(url: str, client, n: int) -> tuple[Timing, Timing]:
    """The sink's write path alone on batches already in memory, against ``_put`` on the same records:
    separates what the connector costs from what the pipeline around it costs."""
    from conduix import Batch, Context
    from conduix_s3 import S3Sink, S3SinkConfig

    records = [{"id": i, "service": "api", "level": "info", "bytes": 512 + i % 100,
                "message": f"GET /api/orders/{i} 200", "timestamp": "2024-05-01T12:00:00Z"} for i in range(n)]
    batches = [Batch(records[k:k + BATCH], [{"source": "f", "file": "in.jsonl", "line": i + 1}
                                             for i in range(k, min(k + BATCH, n))], position=("in.jsonl", k))
               for k in range(0, n, BATCH)]
    ours_bucket, base_bucket = f"bench-sink-{uuid.uuid4().hex[:8]}", f"bench-put-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=ours_bucket)
    client.create_bucket(Bucket=base_bucket)
    sink = S3Sink(S3SinkConfig(bucket=ours_bucket, endpoint_url=url), Context("s3"))
    sink.open()
    with measure() as ours:
        for batch in batches:
            sink.write(batch)
    sink.close()
    with measure() as base:
        for part, batch in enumerate(batches):
            _put(client, base_bucket, part, batch.records)
    return ours, base


def _count(client, bucket: str) -> int:
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            total += gzip.decompress(body).count(b"\n")
    return total


def run() -> list[dict]:
    """Best of two runs each, in alternating order, each into a new bucket."""
    import boto3

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    work = tempfile.mkdtemp(prefix="conduix-bench-s3-")
    proc, url = _start_server()
    try:
        client = boto3.client("s3", endpoint_url=url)
        path = Path(work, "in.jsonl")
        _write_input(path, N)
        def side(name: str) -> Callable[[int], Timing]:
            def one(round_: int) -> Timing:
                bucket = f"bench-{name}-{uuid.uuid4().hex[:8]}"
                client.create_bucket(Bucket=bucket)
                timing = (conduix(url, path, bucket, os.path.join(work, bucket)) if name == "conduix"
                          else baseline(url, path, bucket))
                assert _count(client, bucket) == N
                return timing
            return one

        best = alternating({"conduix": side("conduix"), "baseline": side("baseline")}, rounds=2)
        sink_timing, put_timing = sink_only(url, client, N)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return [result("file_to_s3_gzip_jsonl", N, best["conduix"], best["baseline"], rounds=2),
            result("s3_sink_write_path", N, sink_timing, put_timing)]
