"""generate -> python stage (parse a JSON string field, drop 25%, rename two fields) -> blackhole.

Baseline: a plain loop making the same records and doing the same work in the same process.
Target (issue 2): the engine reaches at least 0.8 of the plain loop with the default batch size.
"""

from __future__ import annotations

import json
import time

N = 1_000_000
TEMPLATE = {"message": '{"id": 17, "user": "ada", "level": "info", "bytes": 512, "path": "/api/orders"}'}


def transform(record: dict) -> dict | None:
    """The work, shared by the pipeline's python stage and the baseline loop."""
    if record["seq"] % 4 == 0:
        return None
    data = json.loads(record["message"])
    data["user_name"] = data.pop("user")
    data["severity"] = data.pop("level")
    return data


def baseline(n: int) -> float:
    start = time.perf_counter()
    kept = 0
    for seq in range(n):
        out = transform({**TEMPLATE, "seq": seq})
        if out is not None:
            kept += 1
    elapsed = time.perf_counter() - start
    assert kept == n - n // 4
    return n / elapsed


def conduix(n: int) -> float:
    from conduix import Pipeline

    pipeline = Pipeline.from_dict({
        "name": "bench_core",
        "sources": {"gen": {"type": "generate", "count": n, "record": TEMPLATE}},
        "transforms": {"work": {"type": "python", "inputs": ["gen"], "function": "bench_core:transform"}},
        "sinks": {"out": {"type": "blackhole", "inputs": ["work"]}},
    })
    start = time.perf_counter()
    result = pipeline.run(handle_signals=False)
    elapsed = time.perf_counter() - start
    assert result.ok, result.error
    assert result.stats["out"].records_in == n - n // 4
    return n / elapsed


def run(n: int = N) -> dict:
    conduix(n // 20)  # warm up imports and caches
    base = baseline(n)
    ours = conduix(n)
    return {"name": "core_python_stage", "conduix_rps": ours, "baseline_rps": base, "ratio": ours / base,
            "records": n}
