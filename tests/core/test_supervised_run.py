"""Pipelines under supervision, end to end through `conduix run`: one worker process per slice,
SIGKILLed workers restarted from their checkpoint, crash loops escalating to paused, and nothing
left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def start(tmp_path: Path, text: str, *args: str) -> subprocess.Popen[str]:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--json", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CONDUIX_STATE_DIR": str(tmp_path / "state")})


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[int, dict, str]:
    _, stderr = proc.communicate(timeout=timeout)
    summary = next((json.loads(line) for line in reversed(stderr.splitlines()) if line.startswith("{")), {})
    return proc.returncode, summary, stderr


def sequences(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


def workers(tmp_path: Path, name: str) -> dict[str, dict]:
    path = tmp_path / "state" / "status" / f"{name}.json"
    try:
        status = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    found: dict[str, dict] = {}

    def walk(node: dict) -> None:
        for child in node.get("children") or []:
            if child.get("kind") == "supervisor":
                walk(child)
            else:
                found[child["id"]] = child

    walk(status)
    return found


def test_two_slices_run_as_two_worker_processes_and_deliver_everything_once(tmp_path):
    out = tmp_path / "out.jsonl"
    proc = start(tmp_path, f"""
        name: sliced
        settings: {{workers: 2, batch_size: 50}}
        sources:
          gen: {{type: generate, count: 2000}}
        sinks:
          out: {{type: file, inputs: [gen], path: "{out}"}}
    """)
    code, summary, stderr = finish(proc)
    assert code == 0, stderr
    assert summary["status"] == "succeeded" and set(summary["workers"]) == {"worker-0", "worker-1"}
    assert sorted(sequences(out)) == list(range(2000))


def test_a_sigkilled_worker_is_restarted_and_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "out.jsonl"
    proc = start(tmp_path, f"""
        name: killed
        settings: {{batch_size: 20, checkpoint: {{interval: 0.1}}}}
        supervision: {{strategy: one_for_one, max_restarts: 3, within_seconds: 60, backoff: {{initial: 0.2}}}}
        sources:
          gen: {{type: generate, count: 3000, rate: 1500, resume: true}}
        sinks:
          out: {{type: file, inputs: [gen], path: "{out}"}}
    """)
    deadline = time.monotonic() + 30
    pid = None
    while time.monotonic() < deadline:
        pid = workers(tmp_path, "killed").get("worker", {}).get("pid")
        if pid and out.exists() and len(out.read_text().splitlines()) > 300:
            break
        time.sleep(0.05)
    assert pid, "the worker never reported its process id"
    os.kill(pid, signal.SIGKILL)
    code, summary, stderr = finish(proc)
    assert code == 0, stderr
    assert summary["restarts"] >= 1
    seen = sequences(out)
    assert sorted(set(seen)) == list(range(3000))  # nothing lost
    assert len(seen) - 3000 <= 400  # duplicates bounded by what was read after the last checkpoint


def test_a_crash_loop_spends_the_budget_and_ends_paused_with_the_reason(tmp_path):
    (tmp_path / "crashy.py").write_text("def boom(record):\n    raise RuntimeError('downstream rejected it')\n")
    proc = start(tmp_path, f"""
        name: crashing
        supervision: {{strategy: one_for_one, max_restarts: 2, within_seconds: 60,
                       backoff: {{initial: 0.05, max: 0.1}}}}
        sources:
          gen: {{type: generate, count: 10}}
        transforms:
          t: {{type: python, inputs: [gen], function: "crashy:boom", python_path: ["{tmp_path}"]}}
        sinks:
          out: {{type: blackhole, inputs: [t]}}
    """)
    code, summary, _ = finish(proc)
    assert code == 1
    assert summary["status"] == "paused"
    assert "downstream rejected it" in (summary["reason"] or "") or "budget" in (summary["reason"] or "")
    assert summary["restarts"] == 2


def test_the_hierarchical_format_runs_a_worker_per_source(tmp_path):
    out_a, out_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    proc = start(tmp_path, f"""
        name: tree
        type: actor
        supervision: {{strategy: one_for_all, max_restarts: 3, within_seconds: 30}}
        children:
          - id: readers
            type: supervisor
            supervision: {{strategy: rest_for_one}}
            children:
              - id: a
                type: source
                component: {{type: generate, count: 100, record: {{src: a}}}}
              - id: b
                type: source
                component: {{type: generate, count: 50, record: {{src: b}}}}
          - id: out_a
            type: sink
            inputs: [a]
            component: {{type: file, path: "{out_a}"}}
          - id: out_b
            type: sink
            inputs: [b]
            component: {{type: file, path: "{out_b}"}}
    """)
    code, summary, stderr = finish(proc)
    assert code == 0, stderr
    assert summary["status"] == "succeeded"
    assert len(sequences(out_a)) == 100 and len(sequences(out_b)) == 50


def test_sigterm_stops_the_tree_gracefully_and_leaves_no_process_behind(tmp_path):
    proc = start(tmp_path, """
        name: forever
        settings: {workers: 2}
        sources:
          gen: {type: generate, rate: 500}
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [w.get("pid") for w in workers(tmp_path, "forever").values()]
        if len(pids) == 2 and all(pids):
            break
        time.sleep(0.05)
    family = ours(tmp_path)
    assert len(family) >= 4  # conduix run, the actor admin, the root supervisor, two workers
    assert {w["pid"] for w in workers(tmp_path, "forever").values()} <= {p.pid for p in family}
    proc.send_signal(signal.SIGTERM)
    code, summary, stderr = finish(proc)
    assert code == 0, stderr
    assert summary["status"] == "stopped"
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left behind: {alive}"
    assert not ours(tmp_path)


def ours(tmp_path: Path) -> list[psutil.Process]:
    """Live processes started for this test (they inherit its CONDUIX_STATE_DIR)."""
    found = []
    for process in psutil.process_iter():
        try:
            if (process.status() != psutil.STATUS_ZOMBIE
                    and process.environ().get("CONDUIX_STATE_DIR") == str(tmp_path / "state")):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_supervised_run_serves_restarts_and_worker_counters_as_metrics(tmp_path):
    import re

    import httpx

    proc = start(tmp_path, """
        name: watched
        supervision: {backoff: {initial: 0.1}}
        sources:
          gen: {type: generate, rate: 1000}
        sinks:
          out: {type: blackhole, inputs: [gen]}
    """, "--metrics-port", "0")
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"(http://\S+)/metrics", line)
            url = found.group(1) if found else None
        assert url
        client = httpx.Client(timeout=5)

        def eventually(check, what: str):
            end = time.monotonic() + 30
            while time.monotonic() < end:
                value = check()
                if value:
                    return value
                time.sleep(0.1)
            raise AssertionError(f"never: {what}")

        eventually(lambda: client.get(f"{url}/ready").status_code == 200, "ready")
        pid = eventually(lambda: workers(tmp_path, "watched").get("worker", {}).get("pid"), "a worker pid")
        os.kill(pid, signal.SIGKILL)
        def restarted_and_counting() -> bool:
            text = client.get(f"{url}/metrics").text
            return bool(re.search(r'conduix_restarts_total\{[^}]*component="worker"[^}]*\} 1\.0', text)
                        and re.search(r'conduix_records_in_total\{[^}]*component="gen"[^}]*\} [1-9]', text))

        eventually(restarted_and_counting, "a restart and the worker's counters in the metrics")
        eventually(lambda: client.get(f"{url}/ready").status_code == 200, "ready again after the restart")
        assert client.get(f"{url}/status").json()["pipelines"][0]["restarts"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
