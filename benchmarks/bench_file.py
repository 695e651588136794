"""file -> file, whole processes: ``conduix run`` against a tuned plain orjson loop doing the same work.

The input is JSON log lines of about 220 bytes whose ``message`` holds JSON of its own. Two transforms:

- ``small``: drop the 25% at debug level, parse ``message``, rename one field and add one;
- ``realistic``: the same filter, then a remap that builds a new object of ten fields from the parsed
  message (a typical "normalise a log line" program).

Conduix runs the pipeline a user would write (file source, ``filter``, ``remap``, file sink) with
``conduix run``; the baseline is a plain Python script using orjson, reading and writing in 1 MiB
chunks; the peer is a Bytewax dataflow doing the same work (Bytewax from PyPI, in a virtualenv the
benchmark creates under ``$CONDUIX_BENCH_PEERS``, default ``~/.cache/conduix-bench/peers``). All are
separate processes, start-up included, and must write the same bytes. Each side runs
``ROUNDS`` times, the order alternating every round; each side counts with its best round. The headline
is records per CPU-second (user + system time of the process, from ``wait4``), which a shared machine's
load disturbs far less than the wall-clock rate printed beside it. ``steady_cpu_rps`` leaves start-up out, as
``bench_kafka``'s steady figure does: each side's CPU on the whole input less its CPU on ten of its lines (best
of three), so the hot path is compared alone (start-up has a target of its own: ``conduix_run_startup``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson

N = 200_000
ROUNDS = 3

FILTER = '.level != "debug"'

SMALL = """\
. = object!(parse_json!(.message))
.user_name = del(.user)
.pipeline = "bench"
"""

REALISTIC = """\
m = object!(parse_json!(.message))
. = {
  "timestamp": .ts,
  "host": .host,
  "service": .service,
  "severity": upcase!(.level),
  "user": m.user,
  "method": m.method,
  "path": m.path,
  "status": m.status,
  "bytes": m.bytes,
  "ok": int!(m.status) < 400
}
"""

#: the same work in plain Python, for the baseline script (``line`` is the parsed input line)
BASELINE_WORK = {
    "small": """\
        m = loads(rec["message"])
        m["user_name"] = m.pop("user")
        m["pipeline"] = "bench"
        out.append(dumps(m))
""",
    "realistic": """\
        m = loads(rec["message"])
        out.append(dumps({"timestamp": rec["ts"], "host": rec["host"], "service": rec["service"],
                          "severity": rec["level"].upper(), "user": m["user"], "method": m["method"],
                          "path": m["path"], "status": m["status"], "bytes": m["bytes"],
                          "ok": m["status"] < 400}))
""",
}

BASELINE = """\
import sys
from orjson import loads, dumps

def main(src, dst):
    with open(src, "rb") as inp, open(dst, "wb") as outf:
        rest = b""
        while True:
            chunk = inp.read(1 << 20)
            if not chunk:
                break
            lines = (rest + chunk).split(b"\\n")
            rest = lines.pop()
            out = []
            for line in lines:
                if not line:
                    continue
                rec = loads(line)
                if rec["level"] == "debug":
                    continue
{work}
            if out:
                out.append(b"")
                outf.write(b"\\n".join(out))

main(sys.argv[1], sys.argv[2])
"""

TRANSFORMS = """\
transforms:
  keep: {{type: filter, inputs: [in], condition: {filter}}}
  work:
    type: remap
    inputs: [keep]
    source: {program}
"""
"""The filter and the remap after it, the same in every benchmark of the file's work (``.format`` fields
``filter`` and ``program``)."""

PIPELINE = """\
name: bench_file
sources:
  in: {{type: file, path: {src}, format: json}}
""" + TRANSFORMS + """\
sinks:
  out: {{type: file, inputs: [work], path: {dst}, append: false}}
"""


#: peers, each from PyPI in a virtualenv of its own that the benchmark creates (once, under PEERS_DIR)
PEERS = {"bytewax": "bytewax==0.21.1"}
PEERS_DIR = Path(os.environ.get("CONDUIX_BENCH_PEERS", "~/.cache/conduix-bench/peers")).expanduser()

#: the same work as a Bytewax dataflow (FileSource -> map -> filter -> map -> FileSink)
BYTEWAX = """\
import os
from pathlib import Path

import bytewax.operators as op
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow
from orjson import dumps, loads

def work(rec):
{work}

flow = Dataflow("bench")
s = op.input("in", flow, FileSource(os.environ["SRC"]))
s = op.map("parse", s, loads)
s = op.filter("keep", s, lambda rec: rec["level"] != "debug")
s = op.map("work", s, lambda rec: work(rec).decode())
s = op.key_on("key", s, lambda _: "all")
op.output("out", s, FileSink(Path(os.environ["DST"])))
"""

#: the work of one record for the peers (``rec`` is the parsed line; returns the output line)
PEER_WORK = {
    "small": """\
m = loads(rec["message"])
m["user_name"] = m.pop("user")
m["pipeline"] = "bench"
return dumps(m)
""",
    "realistic": """\
m = loads(rec["message"])
return dumps({"timestamp": rec["ts"], "host": rec["host"], "service": rec["service"],
              "severity": rec["level"].upper(), "user": m["user"], "method": m["method"], "path": m["path"],
              "status": m["status"], "bytes": m["bytes"], "ok": m["status"] < 400})
""",
}


def peer_python(peer: str) -> str | None:
    """The interpreter of the peer's virtualenv, created on first use; None (and a note) when it cannot be."""
    venv = PEERS_DIR / PEERS[peer].replace("==", "-")
    python = venv / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", PEERS[peer], "orjson"], check=True,
                           capture_output=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"bench_file: no {peer} ({exc}); its column is left out", file=sys.stderr)
            shutil.rmtree(venv, ignore_errors=True)
            return None
    return str(python)


def make_input(path: Path, n: int) -> None:
    levels = ("info", "warn", "error", "debug")
    methods = ("GET", "POST", "PUT", "DELETE")
    with open(path, "wb") as f:
        for i in range(n):
            message = orjson.dumps({"user": f"user{i % 977}", "method": methods[i % 4],
                                    "path": f"/api/v1/orders/{i}", "status": 200 + (i % 5) * 100,
                                    "bytes": 100 + i % 9000, "latency_ms": i % 250}).decode()
            f.write(orjson.dumps({"ts": f"2026-12-02T05:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 1000:03d}Z",
                                  "host": f"web-{i % 8}", "service": "orders", "level": levels[i % 4],
                                  "message": message}) + b"\n")


#: as installed: modules load from cached bytecode (some shells here set PYTHONDONTWRITEBYTECODE)
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


#: peak resident memory (MiB) of the last process :func:`timed` ran, per command
PEAK_RSS: dict[str, float] = {}


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (user + system) of a process, start-up included."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**ENV, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {stderr[-2000:]}")
    key = " ".join(argv)
    PEAK_RSS[key] = max(PEAK_RSS.get(key, 0.0), usage.ru_maxrss / 1024)  # Linux: KiB
    return wall, usage.ru_utime + usage.ru_stime


def _fresh(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """:func:`timed`, from the beginning of the input: no checkpoint of an earlier run to resume from."""
    shutil.rmtree(cwd / "state", ignore_errors=True)
    return timed(argv, cwd, env)


def _yaml_str(text: str) -> str:
    return orjson.dumps(text).decode()  # a JSON string is a YAML double-quoted scalar


def _sides(name: str, program: str, work: str, src: Path, folder: Path, tag: str
           ) -> tuple[dict[str, list[str]], dict[str, dict[str, str]], dict[str, Path]]:
    """The command of each side on ``src`` (argv), their environments, and the file each writes."""
    script = folder / f"plain_{name}.py"
    script.write_text(BASELINE.format(work=textwrap.indent(textwrap.dedent(work), " " * 16)))
    pipeline = folder / f"{name}{tag}.yaml"
    outputs = {side: folder / f"{name}{tag}_{side}.jsonl" for side in ("conduix", "baseline", *PEERS)}
    pipeline.write_text(PIPELINE.format(src=_yaml_str(str(src)), dst=_yaml_str(str(outputs["conduix"])),
                                        filter=_yaml_str(FILTER), program=_yaml_str(program)))
    sides = {
        "conduix": [sys.executable, "-m", "conduix", "run", str(pipeline), "--state-dir", str(folder / "state")],
        "baseline": [sys.executable, str(script), str(src), str(outputs["baseline"])],
    }
    env = {}
    python = peer_python("bytewax")
    if python is not None:
        flow = folder / f"bytewax_{name}.py"
        flow.write_text(BYTEWAX.format(work=textwrap.indent(PEER_WORK[name], "    ")))
        sides["bytewax"] = [python, "-m", "bytewax.run", f"{flow.stem}:flow"]
        env["bytewax"] = {"SRC": str(src), "DST": str(outputs["bytewax"])}
    return sides, env, outputs


def compare(name: str, program: str, work: str, src: Path, n: int, folder: Path, rounds: int) -> dict[str, Any]:
    sides, env, outputs = _sides(name, program, work, src, folder, "")
    best: dict[str, tuple[float, float]] = {}
    for round_ in range(rounds):
        order = list(sides) if round_ % 2 else list(reversed(sides))
        for side in order:
            outputs[side].unlink(missing_ok=True)
            wall, cpu = _fresh(sides[side], folder, env.get(side))
            old = best.get(side)
            best[side] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
    for side in sides:
        if outputs[side].read_bytes() != outputs["baseline"].read_bytes():
            raise AssertionError(f"{name}: {side} and the plain loop wrote different output")
    (ours_wall, ours_cpu), (base_wall, base_cpu) = best["conduix"], best["baseline"]
    result = {"name": f"file_{name}", "conduix_rps": n / ours_wall, "baseline_rps": n / base_wall,
              "ratio": base_wall / ours_wall, "conduix_cpu_rps": n / ours_cpu, "baseline_cpu_rps": n / base_cpu,
              "cpu_ratio": base_cpu / ours_cpu, "records": n, "rounds": rounds,
              "peak_rss_mib": {side: round(PEAK_RSS[" ".join(argv)]) for side, argv in sides.items()}}
    for peer in PEERS:
        if peer in best:
            wall, cpu = best[peer]
            result.update({f"{peer}_cpu_rps": round(n / cpu), f"{peer}_rps": round(n / wall),
                           f"cpu_vs_{peer}": round(cpu / ours_cpu, 2)})
    # the hot path without start-up: each side's CPU on these records less its CPU on ten of them (best of three)
    ten = folder / "ten.jsonl"
    make_input(ten, 10)
    small, small_env, _ = _sides(name, program, work, ten, folder, "_ten")
    steady: dict[str, int] = {}
    for side in best:
        start = min(_fresh(small[side], folder, small_env.get(side))[1] for _ in range(3))
        steady[side] = round(n / max(best[side][1] - start, 1e-3))
    result["steady_cpu_rps"] = steady
    result["steady_cpu_ratio"] = round(steady["conduix"] / steady["baseline"], 2)
    for peer in PEERS:
        if peer in steady:
            result[f"steady_vs_{peer}"] = round(steady["conduix"] / steady[peer], 2)
    return result


def startup(folder: Path) -> dict[str, Any]:
    """Whole-process time of ``conduix run`` on a ten-line file (the realistic pipeline) against a bare
    ``python -c 'import orjson'``; best of three, wall-clock and CPU."""
    src = folder / "ten.jsonl"
    make_input(src, 10)
    pipeline = folder / "startup.yaml"
    pipeline.write_text(PIPELINE.format(src=_yaml_str(str(src)), dst=_yaml_str(str(folder / "ten.out")),
                                        filter=_yaml_str(FILTER), program=_yaml_str(REALISTIC)))
    def argv(run: int) -> list[str]:  # a state folder per run: each reads its ten lines (no checkpoint to resume)
        return [sys.executable, "-m", "conduix", "run", str(pipeline), "--state-dir", str(folder / f"state-{run}")]

    bare = [sys.executable, "-c", "import orjson"]
    timed(argv(0), folder)  # bytecode written once, as an installation does
    ours = [timed(argv(run), folder) for run in range(1, 4)]
    python = [timed(bare, folder) for _ in range(3)]
    return {"name": "conduix_run_startup", "seconds": min(w for w, _ in ours), "cpu_seconds": min(c for _, c in ours),
            "python_seconds": min(w for w, _ in python), "python_cpu_seconds": min(c for _, c in python)}


def run(n: int = N, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="conduix-bench-file-") as tmp:
        folder = Path(tmp)
        src = folder / "input.jsonl"
        make_input(src, n)
        results = [startup(folder)]
        for name, program in (("small", SMALL), ("realistic", REALISTIC)):
            results.append(compare(name, program, BASELINE_WORK[name], src, n, folder, rounds))
        results[-1]["load_average"] = os.getloadavg()
        return results


if __name__ == "__main__":
    for result in run():
        print(orjson.dumps(result).decode())
