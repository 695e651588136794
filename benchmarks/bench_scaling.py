"""Scaling out: the same CPU-bound pipeline with 1 and with 2 supervised worker processes (slices).

Target (issue 4): 2 workers reach at least 1.6x the throughput of one on this 2-core machine.
Here ``baseline_rps`` is the 1-worker run and ``conduix_rps`` the 2-worker run.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

N = 400_000
HERE = Path(__file__).resolve().parent


def burn(record: dict) -> dict:
    """A CPU-bound stage: a few rounds of hashing per record."""
    digest = str(record["seq"]).encode()
    for _ in range(20):
        digest = hashlib.sha256(digest).digest()
    record["digest"] = digest.hex()[:16]
    return record


def _run(workers: int, n: int) -> float:
    from conduix import Pipeline

    text = f"""
name: bench_scaling_{workers}
settings: {{workers: {workers}, batch_size: 1000}}
supervision: {{max_restarts: 0}}
sources:
  gen: {{type: generate, count: {n}}}
transforms:
  burn: {{type: python, inputs: [gen], function: "bench_scaling:burn", python_path: ["{HERE}"]}}
sinks:
  out: {{type: blackhole, inputs: [burn]}}
"""
    pipeline = Pipeline.from_text(text)
    with tempfile.TemporaryDirectory() as state:
        start = time.perf_counter()
        result = pipeline.run(state_dir=Path(state), supervised=True, handle_signals=False)
        elapsed = time.perf_counter() - start
    assert result.status == "succeeded", result.reason
    return n / elapsed


def run(n: int = N) -> dict:
    one = _run(1, n)
    two = _run(2, n)
    return {"name": "scaling_2_workers", "conduix_rps": two, "baseline_rps": one, "ratio": two / one,
            "records": n, "note": "baseline = the same pipeline with 1 worker process"}
