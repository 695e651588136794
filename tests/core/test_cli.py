"""The CLI end to end, as subprocesses: exit codes, one-line errors, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conduix.testing import eventually
from tests.conftest import ROOT, conduix


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_quickstart_runs_and_prints_a_summary(tmp_path):
    out = tmp_path / "audit.jsonl"
    proc = conduix("run", "examples/quickstart.yaml", env={"QUICKSTART_OUT": str(out)})
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(printed) == 13 and all(r["status"] < 400 for r in printed)
    assert len(out.read_text().splitlines()) == 13
    assert "pipeline quickstart: succeeded" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_ok_and_bad(tmp_path):
    assert conduix("validate", "examples/quickstart.yaml").returncode == 0
    bad = write(tmp_path, """
        sources:
          gen: {type: generate, count: 3}
        sinks:
          out: {type: stdout, inputs: [gen], fromat: json}
    """)
    proc = conduix("validate", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:5:" in proc.stderr and "unknown key 'fromat'" in proc.stderr
    assert "did you mean 'format'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_with_bad_config_is_one_line_and_exit_2(tmp_path):
    bad = write(tmp_path, "sources: {gen: {type: kafak}}\nsinks: {o: {type: stdout, inputs: [gen]}}\n")
    proc = conduix("run", str(bad))
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if not line.startswith("warning")
            and "WARNING" not in line] == [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1, proc.stderr
    assert "unknown source type 'kafak'" in proc.stderr


def test_failed_run_exits_1_with_the_component_named(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"a": 1}\n{"a": oops}\n')
    path = write(tmp_path, f"""
        sources:
          f: {{type: file, path: "{data}", format: json}}
        sinks:
          out: {{type: blackhole, inputs: [f]}}
    """)
    proc = conduix("run", str(path))
    assert proc.returncode == 1
    assert f"source 'f' failed on the record at {data}:2: invalid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_is_a_config_error():
    proc = conduix("run", "does/not/exist.yaml")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_schema_is_json_schema_with_every_builtin():
    proc = conduix("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    text = json.dumps(schema)
    for name in ("generate", "file", "stdin", "python", "router", "stdout", "blackhole"):
        assert f'"const": "{name}"' in text


def test_graph_text_and_mermaid():
    proc = conduix("graph", "examples/quickstart.yaml")
    assert proc.returncode == 0
    assert "console (sink: stdout)  <-  split.all" in proc.stdout
    proc = conduix("graph", "examples/quickstart.yaml", "--format", "mermaid")
    assert proc.stdout.startswith("flowchart LR")
    assert "split -->|audit| audit_file" in proc.stdout


def test_stdin_to_stdout():
    proc = conduix("run", "-", stdin="")
    assert proc.returncode == 2  # '-' is not a file
    path = ROOT / "examples" / "stdin_to_stdout.yaml"
    proc = conduix("run", str(path), stdin='{"a": 1}\n{"a": 2}\n')
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [{"a": 1}, {"a": 2}]


def test_sigterm_drains_flushes_and_exits_0(tmp_path):
    out = tmp_path / "out.jsonl"
    path = write(tmp_path, f"""
        name: forever
        settings: {{batch_size: 100}}
        sources:
          gen: {{type: generate, rate: 20000}}
        sinks:
          out: {{type: file, inputs: [gen], path: "{out}"}}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CONDUIX_STATE_DIR": str(tmp_path / "state")})
    eventually(lambda: out.exists() and out.stat().st_size, 30, "records written")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    summary = json.loads(stderr.strip().splitlines()[-1])
    lines = out.read_text().splitlines()
    assert summary["status"] == "succeeded"
    assert summary["components"]["gen"]["records_in"] == len(lines) > 0
    assert [json.loads(line)["seq"] for line in lines] == list(range(len(lines)))
