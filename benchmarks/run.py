"""Run Conduix benchmarks: ``python benchmarks/run.py [NAME ...] [--json]``.

Every ``bench_*.py`` module here defines ``run() -> dict | list[dict]``; each dict
has ``name``, ``conduix_rps``, ``baseline_rps`` and ``ratio`` measured in one run
(Conduix vs a plain Python loop doing the same work), plus any details.
Timings are never assertions: the machines are shared and noisy.
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
                extra = {k: v for k, v in result.items() if k not in ("name", "conduix_rps", "baseline_rps", "ratio")}
                print(f"{result['name']:<28} conduix {result['conduix_rps']:>12,.0f}/s   "
                      f"baseline {result['baseline_rps']:>12,.0f}/s   ratio {result['ratio']:.2f}"
                      + (f"   {extra}" if extra else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
