"""Memory over a long run at full speed: ``conduix run`` of generate -> filter -> remap -> file sink.

``CONDUIX_BENCH_SOAK_SECONDS=300 python benchmarks/run.py soak`` (default 300: the five minutes of issue 22).
The pipeline does ``bench_file``'s realistic work (the same log records, its filter and remap program) on
records a ``generate`` source makes as fast as it can, and writes them to ``/dev/null`` through the file sink.
The benchmark samples the process's resident memory (``VmRSS``) every ``SAMPLE_EVERY`` seconds, stops it with
SIGTERM at the end, and reports the peak and whether memory is flat: the median of the last minute against
the median of the second minute (the first holds start-up and warm-up), flat when it grew by less than
5 MiB or 5%. For runs shorter than three minutes the windows are a third of the run.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from bench_file import ENV, FILTER, REALISTIC, TRANSFORMS, _yaml_str, make_input

SECONDS = float(os.environ.get("CONDUIX_BENCH_SOAK_SECONDS", 300))
SAMPLE_EVERY = 2.0

PIPELINE = """\
name: bench_soak
sources:
  in: {{type: generate, records: {templates}, sequence_field: null}}
""" + TRANSFORMS + """\
sinks:
  out: {{type: file, inputs: [work], path: /dev/null}}
"""


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(seconds: float = SECONDS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="conduix-bench-soak-") as tmp:
        folder = Path(tmp)
        make_input(folder / "templates.jsonl", 64)
        templates = [orjson.loads(line) for line in (folder / "templates.jsonl").read_bytes().splitlines()]
        pipeline = folder / "soak.yaml"
        pipeline.write_text(PIPELINE.format(templates=orjson.dumps(templates).decode(), filter=_yaml_str(FILTER),
                                            program=_yaml_str(REALISTIC)))
        err = folder / "stderr.txt"
        with open(err, "wb") as stderr:
            start = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(pipeline), "--json",
                                     "--state-dir", str(folder / "state")], cwd=folder, env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=stderr)
        samples: list[tuple[float, float]] = []
        next_report = 30.0
        while (elapsed := time.monotonic() - start) < seconds and proc.poll() is None:
            rss = rss_mib(proc.pid)
            if rss is not None:
                samples.append((elapsed, rss))
            if elapsed >= next_report:
                print(f"bench_soak: {elapsed:.0f}s, RSS {rss:.1f} MiB", file=sys.stderr, flush=True)
                next_report += 30
            time.sleep(SAMPLE_EVERY)
        if proc.poll() is not None:
            raise RuntimeError(f"the pipeline ended early (exit {proc.returncode}): {err.read_text()[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"the pipeline exited {code}: {err.read_text()[-2000:]}")
        summary = orjson.loads(err.read_bytes().strip().splitlines()[-1])
    window = min(60.0, seconds / 3)
    second = [r for t, r in samples if window <= t < 2 * window]
    last = [r for t, r in samples if t >= seconds - window]
    second_mib, last_mib = statistics.median(second), statistics.median(last)
    growth = last_mib - second_mib
    records = records_read(summary)
    cpu = usage.ru_utime + usage.ru_stime
    peak = max(usage.ru_maxrss / 1024, *(r for _, r in samples))
    return {"name": "soak", "seconds": wall, "records": records, "records_per_second": records / wall,
            "records_per_cpu_second": records / cpu, "peak_rss_mib": peak,
            "rss_second_window_mib": second_mib, "rss_last_window_mib": last_mib, "window_seconds": window,
            "growth_mib": growth, "flat": growth < max(5.0, 0.05 * second_mib), "samples": len(samples),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def records_read(summary: dict[str, Any]) -> int:
    """Records the source produced, from ``conduix run --json``'s summary."""
    components = summary.get("components") or summary.get("stats") or {}
    source = components.get("in") or {}
    return int(source.get("records_out") or source.get("records_in") or 0)


if __name__ == "__main__":
    print(orjson.dumps(run()).decode())
