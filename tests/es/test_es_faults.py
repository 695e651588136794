"""Elasticsearch outages and crashes: the server unreachable for a while (records wait, memory stays bounded,
then everything is delivered once), transient search failures, and a SIGKILL of ``conduix run`` part way
followed by a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conduix.config import pipeline_from_dict
from conduix.runtime import PipelineRun
from conduix.testing import eventually, run_pipeline, test_registry
from tests.conftest import ROOT, conduix
from tests.es.faultproxy import FaultProxy
from tests.es.test_es_sink import FAST_RETRY, ns_in
from tests.es.test_es_source import docs, index_docs

pytestmark = pytest.mark.integration("elasticsearch")


def test_server_down_then_back_records_wait_in_bounded_queues_then_arrive_once(
        tmp_path: Path, proxy: FaultProxy, es: Any, index_name: str) -> None:
    proxy.down = True
    spec = pipeline_from_dict({
        "settings": {"batch_size": 50, "queue_size": 2},
        "sources": {"gen": {"type": "generate", "count": 2000, "sequence_field": "n"}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["gen"], "endpoints": [proxy.url], "index": index_name,
                         "retry": FAST_RETRY}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    try:
        eventually(lambda: run.stats()["es"].retries >= 20, 20, "20 retries while the server is down")
        read = run.stats()["gen"].records_in
        # the batch being written, the queue, and the one the source holds: nothing more is read
        assert read <= (2 + 2) * 50, read
        assert run.stats()["es"].records_out == 0
    finally:
        proxy.down = False
    assert run.join(60)
    run.raise_for_error()
    assert ns_in(es, index_name) == list(range(2000))


def test_transient_search_failures_are_retried_without_gaps_or_repeats(proxy: FaultProxy, es: Any,
                                                                        index_name: str) -> None:
    index_docs(es, index_name, docs(0, 50))
    proxy.fail_next += [("*", 503), ("*", 429)]
    proxy.reset_before["*"] = 1
    run = run_pipeline({
        "sources": {"es": {"type": "elasticsearch", "endpoints": [proxy.url], "index": index_name, "batch_size": 9,
                           "sort": ["ts", "seq"], "retry": FAST_RETRY}},
        "sinks": {"out": {"type": "collect", "inputs": ["es"]}},
    })
    assert [r["seq"] for r in run.records("out")] == list(range(50))
    assert run.result.stats["es"].retries == 3


def test_exactly_once_delivery_needs_an_id_template(tmp_path: Path, es_url: str) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: eo
        delivery: exactly_once
        sources: {{g: {{type: generate, count: 1}}}}
        sinks: {{es: {{type: elasticsearch, inputs: [g], endpoints: ["{es_url}"], index: x}}}}
    """))
    proc = conduix("run", str(pipeline))
    assert proc.returncode == 2
    assert "needs an 'id' template" in proc.stderr


def test_sigkill_part_way_then_restart_delivers_every_record_once_with_ids(tmp_path: Path, es_url: str, es: Any,
                                                                          index_name: str) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(1000)))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: es_crash
        settings: {{batch_size: 50, checkpoint: {{interval: 0.3}}}}
        sources:
          f: {{type: file, path: "{data}", format: json}}
        transforms:
          slow: {{type: python, inputs: [f], mode: batch, function: "tests.crash_points:pause"}}
        sinks:
          es: {{type: elasticsearch, inputs: [slow], endpoints: ["{es_url}"], index: "{index_name}", id: "{{{{ n }}}}"}}
    """))
    state = str(tmp_path / "state")
    # the 9th batch is held until the kill: 400 documents are written, 600 wait for the restart
    env = {**os.environ, "CONDUIX_STATE_DIR": state, "CONDUIX_TEST_PAUSE": "0.1", "CONDUIX_TEST_HOLD_AFTER": "8"}
    victim = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(pipeline)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def indexed() -> bool:
            es.indices.refresh(index=index_name, ignore_unavailable=True)
            return bool(es.indices.exists(index=index_name)) and es.count(index=index_name)["count"] >= 300

        eventually(indexed, 60, "300 documents indexed before the crash")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    written = len(ns_in(es, index_name))
    assert 300 <= written < 1000, "the crash should come part way through"
    shown = conduix("checkpoint", "show", "es_crash", env={"CONDUIX_STATE_DIR": state})
    assert shown.returncode == 0 and '"line"' in shown.stdout, shown.stdout + shown.stderr  # a restart resumes
    proc = conduix("run", str(pipeline), env={"CONDUIX_STATE_DIR": state})
    assert proc.returncode == 0, proc.stderr
    assert ns_in(es, index_name) == list(range(1000))


def test_with_a_disk_buffer_the_source_keeps_going_while_the_server_is_down(
        tmp_path: Path, proxy: FaultProxy, es: Any, index_name: str) -> None:
    proxy.down = True
    spec = pipeline_from_dict({
        "settings": {"batch_size": 50, "queue_size": 2},
        "sources": {"gen": {"type": "generate", "count": 1000, "sequence_field": "n"}},
        "sinks": {"es": {"type": "elasticsearch", "inputs": ["gen"], "endpoints": [proxy.url], "index": index_name,
                         "retry": FAST_RETRY, "buffer": {"type": "disk"}}},
    }, registry=test_registry())
    run = PipelineRun(spec, state_dir=tmp_path / "state").start()
    try:
        # all read while Elasticsearch was unreachable
        eventually(lambda: run.stats()["gen"].records_in == 1000, 30, "all 1000 records read into the buffer")
        assert run.stats()["es"].records_out == 0
    finally:
        proxy.down = False
    assert run.join(60)
    run.raise_for_error()
    assert ns_in(es, index_name) == list(range(1000))
