"""Run Conduix benchmarks: ``python benchmarks/run.py [NAME ...] [--json]``.

Every ``bench_*.py`` module here defines ``run() -> dict | list[dict]``; each dict
has ``name``, ``conduix_rps``, ``baseline_rps`` and ``ratio`` measured in one run
(Conduix vs a plain Python loop doing the same work), plus any details; or ``name``
and ``seconds`` (a start-up time) with details. Records per
CPU-second (``conduix_cpu_rps``, ``baseline_cpu_rps``, ``cpu_ratio``) are the headline
where a benchmark measures them: on a shared machine, or against a server that both
sides wait on, CPU is what limits throughput. Timings are never assertions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"conduix_bench_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HERE))
    spec.loader.exec_module(module)
    return module


SHOWN = ("name", "conduix_rps", "baseline_rps", "ratio", "conduix_cpu_rps", "baseline_cpu_rps", "cpu_ratio")


def line(result: dict) -> str:
    text = f"{result['name']:<28}"
    if "seconds" in result:  # a start-up time, not a rate
        return text + "  ".join(f" {k} {v:.3f}" if isinstance(v, float) else f" {k} {v}"
                                for k, v in result.items() if k != "name")
    if "cpu_ratio" in result:
        text += (f" per CPU-s: conduix {result['conduix_cpu_rps']:>10,.0f}  baseline "
                 f"{result['baseline_cpu_rps']:>10,.0f}  cpu_ratio {result['cpu_ratio']:.2f} |")
    text += (f" wall: conduix {result['conduix_rps']:>10,.0f}/s  baseline {result['baseline_rps']:>10,.0f}/s  "
             f"ratio {result['ratio']:.2f}")
    extra = {k: v for k, v in result.items() if k not in SHOWN}
    return text + (f"   {extra}" if extra else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all): " + ", ".join(discover()))
    parser.add_argument("--json", action="store_true", help="one JSON object per benchmark result")
    args = parser.parse_args()
    available = discover()
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(available)}")
    for name in args.names or list(available):
        results = load(available[name]).run()
        for result in results if isinstance(results, list) else [results]:
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(line(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
