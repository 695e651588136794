"""file -> elasticsearch bulk over 100,000 records, against a noida-db Elasticsearch endpoint started here.

Baseline: a plain loop doing the same work with the official client in the same process: read the file,
parse each JSON line, build the bulk NDJSON and send one bulk request per 1,000 documents, checking the
answer for item errors. Target (issue 7): the ratio is at least 0.8.
"""

from __future__ import annotations

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
from collections.abc import Callable
from pathlib import Path

from _measure import Timing, alternating, measure, result

N = 100_000
BATCH = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    port = _free_port()
    proc = subprocess.Popen([binary, "start", "--only", "elasticsearch", "--elasticsearch-port", str(port),
                             "--data-dir", data_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("noida-db did not start")


def _write_input(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "service": "api", "level": "info", "bytes": 512 + i % 100,
                                "message": f"GET /api/orders/{i} 200", "@timestamp": "2024-05-01T12:00:00Z"}) + "\n")


def baseline(url: str, path: Path, index: str) -> Timing:
    import orjson
    from elasticsearch import Elasticsearch

    client = Elasticsearch(url, max_retries=0, request_timeout=60)
    header = orjson.dumps({"index": {"_index": index}}) + b"\n"
    with measure() as timing:
        with path.open("rb") as f:
            chunk: list[bytes] = []
            for line in f:
                chunk.append(header + orjson.dumps(orjson.loads(line)) + b"\n")
                if len(chunk) == BATCH:
                    _send(client, chunk)
                    chunk = []
            if chunk:
                _send(client, chunk)
    client.close()
    return timing


def _send(client, chunk: list[bytes]) -> None:
    response = client.bulk(operations=b"".join(chunk),
                           filter_path="errors,items.*.status,items.*.error.type,items.*.error.reason")
    assert not response["errors"], response


def conduix(url: str, path: Path, index: str, state_dir: str) -> Timing:
    from conduix import Pipeline

    pipeline = Pipeline.from_dict({
        "name": "bench_es",
        "settings": {"batch_size": BATCH},
        "sources": {"f": {"type": "file", "path": str(path), "format": "json"}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["f"], "endpoints": [url], "index": index}},
    })
    with measure() as timing:
        result = pipeline.run(handle_signals=False, state_dir=state_dir)
    assert result.ok, result.error
    assert result.stats["es"].records_out == N
    return timing


def sink_only(url: str, n: int) -> tuple[float, float]:
    """The sink's write path alone on batches already in memory, against the plain bulk loop on the same
    records: separates what the connector costs from what the pipeline around it costs."""
    import orjson
    from elasticsearch import Elasticsearch

    from conduix import Batch, Context
    from conduix_es import ElasticsearchSink, ElasticsearchSinkConfig

    records = [{"id": i, "service": "api", "level": "info", "bytes": 512 + i % 100,
                "message": f"GET /api/orders/{i} 200", "@timestamp": "2024-05-01T12:00:00Z"} for i in range(n)]
    batches = [Batch(records[k:k + BATCH], [{"source": "f", "file": "in.jsonl", "line": i + 1}
                                             for i in range(k, min(k + BATCH, n))], position=("in.jsonl", k))
               for k in range(0, n, BATCH)]
    client = Elasticsearch(url, max_retries=0, request_timeout=60)
    sink = ElasticsearchSink(ElasticsearchSinkConfig(endpoints=[url], index="bench-sink"), Context("es"))
    sink.open()
    start = time.perf_counter()
    for batch in batches:
        assert not sink.write(batch)
    ours = n / (time.perf_counter() - start)
    sink.close()
    header = orjson.dumps({"index": {"_index": "bench-bulk"}}) + b"\n"
    start = time.perf_counter()
    for batch in batches:
        _send(client, [header + orjson.dumps(r) + b"\n" for r in batch.records])
    base = n / (time.perf_counter() - start)
    client.indices.delete(index="bench-sink,bench-bulk")
    client.close()
    return ours, base


def run() -> list[dict]:
    """Best of two runs each, in alternating order, each on an empty server (the server slows as it fills up)."""
    from elasticsearch import Elasticsearch

    work = tempfile.mkdtemp(prefix="conduix-bench-es-")
    proc, url = _start_server(os.path.join(work, "data"))
    client = Elasticsearch(url, request_timeout=60)
    try:
        path = Path(work, "in.jsonl")
        _write_input(path, N)
        def side(name: str) -> Callable[[int], Timing]:
            def one(round_: int) -> Timing:
                index = f"bench-{name}-{round_}"
                timing = (conduix(url, path, index, os.path.join(work, index)) if name == "conduix"
                          else baseline(url, path, index))
                client.indices.refresh(index=index)
                count = client.count(index=index)["count"]
                assert count == N, (index, count)
                client.indices.delete(index=index)
                return timing
            return one

        best = alternating({"conduix": side("conduix"), "baseline": side("baseline")}, rounds=2)
        sink_rps, bulk_rps = sink_only(url, N)
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return [result("file_to_elasticsearch", N, best["conduix"], best["baseline"], rounds=2),
            {"name": "elasticsearch_sink_write_path", "conduix_rps": sink_rps, "baseline_rps": bulk_rps,
             "ratio": sink_rps / bulk_rps, "records": N}]
