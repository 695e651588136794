"""What a plain ``conduix run`` of a file -> filter -> remap -> file pipeline imports: nothing it does not use;
and the message connectors load OpenTelemetry only for a batch that carries a trace.

Start-up is part of every whole-process run (issue 22); each module here costs CPU at every start. A run
without telemetry, supervision, servers or a terminal must not load their libraries: they are imported where
they are used (see docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

#: top-level packages a plain file run must not import, and why they would be there
NOT_NEEDED = {
    "thespian": "supervised runs only",
    "opentelemetry": "telemetry (metrics port, OTLP) only",
    "prometheus_client": "the metrics endpoint only",
    "uvicorn": "the metrics endpoint only",
    "starlette": "the metrics endpoint only",
    "httpx": "http components only",
    "redis": "the Redis checkpoint store only",
    "rich": "the progress table (a terminal) only",
    "lark": "building the remap parser tables only",
    "regex": "lark's optional speed-up, and remap functions that use it",
    "confluent_kafka": "the kafka components only",
    "sqlite3": "disk buffers only",
}

#: Conduix modules a plain file run must not import
NOT_NEEDED_HERE = [
    "conduix_kafka._config",  # pydantic models of a component this pipeline does not use
    "conduix.observability.telemetry",
    "conduix.observability.tracing",
    "conduix.remap.functions.crypto",  # remap functions the program does not call
    "conduix.remap.functions.network",
]

DRIVER = """\
import runpy, sys
sys.argv = ["conduix", "run", sys.argv[1], "--state-dir", sys.argv[2], "--no-progress"]
try:
    runpy.run_module("conduix", run_name="__main__", alter_sys=True)
finally:
    print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
"""


def test_a_plain_file_run_imports_no_library_it_does_not_use(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps({"level": level, "message": json.dumps({"user": f"u{i}"})}) + "\n"
                           for i, level in enumerate(["info", "debug", "error"])))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""\
        sources:
          in: {{type: file, path: {json.dumps(str(src))}, format: json}}
        transforms:
          keep: {{type: filter, inputs: [in], condition: '.level != "debug"'}}
          work:
            type: remap
            inputs: [keep]
            source: |
              m = object!(parse_json!(.message))
              . = {{"user": m.user, "severity": upcase!(.level)}}
        sinks:
          out: {{type: file, inputs: [work], path: {json.dumps(str(dst))}}}
        """))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(pipeline), str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in dst.read_text().splitlines()] == [
        {"user": "u0", "severity": "INFO"}, {"user": "u2", "severity": "ERROR"}]
    modules = set(proc.stderr.split("MODULES ", 1)[1].split())
    assert "conduix.remap.functions.strings" in modules  # the list is the run's: upcase was loaded
    imported = {name: why for name, why in NOT_NEEDED.items() if name in modules}
    assert not imported, f"a plain file run imported {imported}: import them where they are used"
    assert not [name for name in NOT_NEEDED_HERE if name in modules]


UNTRACED = """\
import sys
import conduix_kafka.sink, conduix_kafka.source, conduix_messaging.nats, conduix_messaging.amqp
import conduix.builtins.http_sink
from conduix.components import Batch
from conduix.observability.tracing import extract_context, trace_headers
assert trace_headers(Batch([{"a": 1}])) == {}
assert extract_context({"content-type": b"application/json"}) is None
print(sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry"))
"""


def test_message_connectors_load_opentelemetry_only_for_a_trace() -> None:
    # they write and read W3C trace headers; a batch of a run without telemetry carries no trace to write
    proc = subprocess.run([sys.executable, "-c", UNTRACED], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
