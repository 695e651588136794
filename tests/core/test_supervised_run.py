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
from pathlib import Path

import psutil
import pytest

from conduix.testing import eventually
from tests.conftest import ROOT
from tests.running import worker_status

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


def workers(tmp_path: Path, name: str) -> dict[str, dict]:
    return worker_status(tmp_path / "state", name)


def sequences(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


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
    pid = eventually(lambda: out.exists() and len(out.read_text().splitlines()) > 300
                     and workers(tmp_path, "killed").get("worker", {}).get("pid"), 30,
                     "the worker's process id and 300 records written")
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
                       backoff: {{initial: 0.05, max: 0.1}}, resume: {{max_attempts: 0}}}}
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


def test_a_paused_run_resumes_by_itself_once_the_failure_is_gone(tmp_path):
    """Escalation pauses the run with the reason; the tree resumes on the supervision.resume schedule with a
    fresh budget, pauses again while the failure lasts, and finishes from its checkpoint once it is gone."""
    broken, out = tmp_path / "downstream-is-down", tmp_path / "out.jsonl"
    broken.write_text("")
    (tmp_path / "flaky.py").write_text(
        "import os\n"
        f"def check(record):\n    if os.path.exists({str(broken)!r}):\n"
        "        raise RuntimeError('downstream is down')\n    return record\n")
    proc = start(tmp_path, f"""
        name: flaky
        settings: {{checkpoint: {{interval: 0.1}}}}
        supervision: {{max_restarts: 1, within_seconds: 60, backoff: {{initial: 0.05, max: 0.1}},
                       resume: {{initial: 0.5, max: 1, max_attempts: null}}}}
        sources:
          gen: {{type: generate, count: 200, resume: true}}
        transforms:
          t: {{type: python, inputs: [gen], function: "flaky:check", python_path: ["{tmp_path}"]}}
        sinks:
          out: {{type: file, inputs: [t], path: "{out}"}}
    """)
    status_file = tmp_path / "state" / "status" / "flaky.json"

    def paused(attempt: int) -> dict | None:
        try:
            status = json.loads(status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        resume = status.get("resume") or {}
        return status if status.get("state") == "paused" and (resume.get("attempt") or 0) >= attempt else None

    status = eventually(lambda: paused(2), timeout=60, what="paused, resumed, and paused again")
    assert "downstream is down" in status["reason"] and "gave up after 1 restarts" in status["reason"]
    assert status["resume"]["resume_at"] > status["resume"]["since"]
    broken.unlink()  # the dependency is back: the next automatic resume runs to the end
    code, summary, stderr = finish(proc)
    assert code == 0, stderr[-3000:]
    assert summary["status"] == "succeeded"
    assert sorted(set(sequences(out))) == list(range(200))
    assert "resuming by itself in" in stderr and "automatic resume 2" in stderr


def test_the_summary_counts_restarts_under_supervisors_that_were_restarted(tmp_path):
    (tmp_path / "crashy.py").write_text("def boom(record):\n    raise RuntimeError('downstream rejected it')\n")
    fast = "backoff: {initial: 0.05, max: 0.1}"
    proc = start(tmp_path, f"""
        name: nested
        type: actor
        supervision: {{strategy: one_for_one, max_restarts: 2, within_seconds: 60, {fast}, resume: {{max_attempts: 0}}}}
        children:
          - id: SourceSupervisor
            type: supervisor
            supervision: {{strategy: one_for_one, max_restarts: 1, within_seconds: 60, {fast}}}
            children:
              - {{id: gen, type: source, component: {{type: generate, count: 10}}}}
          - id: t
            type: stage
            inputs: [gen]
            component: {{type: python, function: "crashy:boom", python_path: ["{tmp_path}"]}}
          - {{id: out, type: sink, inputs: [t], component: {{type: blackhole}}}}
    """)
    code, summary, _ = finish(proc)
    assert code == 1 and summary["status"] == "paused"
    # three incarnations of SourceSupervisor restarted gen once each; root restarted SourceSupervisor twice
    assert summary["restarts"] == 5  # was 1: the restarts under the earlier incarnations were lost


def test_record_errors_are_in_the_summary_the_exit_status_and_the_status_file(tmp_path):
    proc = start(tmp_path, """
        name: half_bad
        supervision: {max_restarts: 1}
        sources:
          g: {type: generate, count: 10, records: [{message: '{"ok": 1}'}, {message: oops}]}
        transforms:
          p: {type: remap, inputs: [g], source: . = parse_json!(.message)}
        sinks:
          out: {type: blackhole, inputs: [p]}
    """)
    code, summary, stderr = finish(proc)
    assert code == 3, stderr  # completed, but records failed
    assert (summary["status"], summary["errors"]) == ("succeeded", {"p": 5})
    final = json.loads((tmp_path / "state" / "status" / "half_bad.json").read_text())
    assert (final["outcome"], final["errors"]) == ("succeeded", {"p": 5})


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
    eventually(lambda: len(pids := [w.get("pid") for w in workers(tmp_path, "forever").values()]) == 2
               and all(pids), 30, "both workers' process ids")
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
        found = eventually(lambda: re.search(r"(http://\S+)/metrics", proc.stderr.readline()), 30,
                           "the metrics URL on stderr")
        url = found.group(1)
        client = httpx.Client(timeout=5)

        eventually(lambda: client.get(f"{url}/ready").status_code == 200, 30, "ready")
        pid = eventually(lambda: workers(tmp_path, "watched").get("worker", {}).get("pid"), 30, "a worker pid")
        os.kill(pid, signal.SIGKILL)
        def restarted_and_counting() -> bool:
            text = client.get(f"{url}/metrics").text
            return bool(re.search(r'conduix_restarts_total\{[^}]*component="worker"[^}]*\} 1\.0', text)
                        and re.search(r'conduix_records_in_total\{[^}]*component="gen"[^}]*\} [1-9]', text))

        eventually(restarted_and_counting, 30, "a restart and the worker's counters in the metrics")
        eventually(lambda: client.get(f"{url}/ready").status_code == 200, 30, "ready again after the restart")
        assert client.get(f"{url}/status").json()["pipelines"][0]["restarts"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def metric_families(text: str) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def scrape_once_measured(data: dict, state_dir: Path, supervised: bool) -> str:
    """The run's /metrics once it has written checkpoints and timed batches; the run is stopped after."""
    import httpx

    from conduix import Pipeline

    run = Pipeline.from_dict(data).start(state_dir=state_dir, metrics_port=0, supervised=supervised)
    try:
        url = eventually(lambda: run.metrics_url, 60, "the metrics endpoint")

        # every worker's, not just the first one's (a worker that has not timed a batch yet has no sample)
        expected = {f"worker-{i}" for i in range(data.get("settings", {}).get("workers", 1))} if supervised else set()

        def counted(families: dict, name: str, suffix: str) -> bool:
            workers = {s.labels.get("worker") for s in families.get(name, [])
                       if s.name.endswith(suffix) and s.value > 0}
            return bool(workers) and workers >= expected

        def measured() -> str | None:
            text = httpx.get(f"{url}/metrics").text
            families = metric_families(text)
            done = (counted(families, "conduix_checkpoint_writes", "_total")
                    and counted(families, "conduix_batch_duration_seconds", "_count"))
            return text if done else None

        return str(eventually(measured, 60, "checkpoints and batch durations on /metrics"))
    finally:
        run.stop()
        assert run.join(90)


def test_a_supervised_run_exports_the_metrics_of_an_in_process_run_per_worker(tmp_path):
    """Histograms, checkpoint counters, lag...: the same families as in-process, each sample with its worker."""
    data = {"name": "twins", "sources": {"gen": {"type": "generate", "rate": 200, "resume": True}},
            "sinks": {"out": {"type": "blackhole", "inputs": ["gen"]}}}
    in_process = metric_families(scrape_once_measured(
        {**data, "settings": {"checkpoint": {"interval": 0.2}}}, tmp_path / "in-process", False))
    supervised = metric_families(scrape_once_measured(
        {**data, "settings": {"checkpoint": {"interval": 0.2}, "workers": 2}}, tmp_path / "supervised", True))
    assert set(in_process) <= set(supervised)
    for name in ("conduix_batch_duration_seconds", "conduix_checkpoint_failures", "conduix_checkpoint_writes",
                 "conduix_checkpoint_consecutive_failures", "conduix_records_out"):
        workers = {s.labels.get("worker") for s in supervised[name]}
        assert workers == {"worker-0", "worker-1"}, (name, workers)
    restarted = {s.labels["worker"] for s in supervised["conduix_restarts"]
                 if s.labels["component"] == s.labels["worker"]}  # the supervisors' count per worker
    assert restarted == {"worker-0", "worker-1"}


def test_the_automatic_resume_schedule_is_bounded_as_documented():
    from conduix.config.model import ResumeSettings

    default = ResumeSettings()
    assert [default.delay(n) for n in range(8)] == [10, 20, 40, 80, 160, 300, 300, 300]
    assert default.max_attempts == 10
    assert sum(default.delay(n) for n in range(default.max_attempts)) == 1810  # "about 30 minutes" in the docs
