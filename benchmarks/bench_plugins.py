"""How long ``conduix plugins`` takes as a whole process (target: under 0.5 s).

Baseline: a bare ``python -c pass`` process, so the ratio shows what Conduix adds.
"""

from __future__ import annotations

import subprocess
import sys
import time


def _best_of(cmd: list[str], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def run() -> dict:
    ours = _best_of([sys.executable, "-m", "conduix", "plugins", "--json"])
    base = _best_of([sys.executable, "-c", "pass"])
    return {"name": "plugins_listing", "conduix_rps": 1 / ours, "baseline_rps": 1 / base, "ratio": base / ours,
            "seconds": round(ours, 3), "python_startup_seconds": round(base, 3)}
