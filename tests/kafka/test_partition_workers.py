"""Partition-per-worker mode: one supervised worker process per partition, each resuming from its own
checkpoint after a SIGKILL; nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduix.testing import eventually
from tests.conftest import ROOT
from tests.kafka.conftest import Broker
from tests.running import read_jsonl, worker_status

pytestmark = [pytest.mark.integration("kafka"), pytest.mark.slow]

N = 1500


def test_a_worker_per_partition_restarts_from_its_own_checkpoint(broker: Broker, names: Any, tmp_path: Path) -> None:
    topic, group, name = names("ppw"), names("ppw-group"), names("ppw")
    broker.create_topics(topic, partitions=3)
    broker.produce(topic, ({"id": i} for i in range(N)), key=lambda i: f"k{i % 7}")
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    config = {
        "name": name,
        "settings": {"batch_size": 50, "checkpoint": {"interval": 0.2}},
        "supervision": {"backoff": {"initial": 0.2}},
        "sources": {"in": {"type": "kafka", "brokers": broker.bootstrap, "topics": [topic], "group_id": group,
                           "auto_offset_reset": "earliest", "partition_per_worker": True,
                           "decoding": "json"}},
        "transforms": {"slow": {"type": "remap", "inputs": ["in"], "source": ". = .", "drop_on_error": True}},
        "sinks": {"out": {"type": "file", "inputs": ["slow"], "path": str(out)}},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--json"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CONDUIX_STATE_DIR": str(state)})
    try:
        found = eventually(lambda: (w := worker_status(state, name)) and len(w) == 3
                           and all(x.get("pid") for x in w.values()) and w, timeout=60, what="three partition workers")
        assert sorted(found) == [f"in-{topic}-{p}" for p in range(3)]
        victim = found[f"in-{topic}-1"]["pid"]
        eventually(lambda: out.exists() and len(out.read_text().splitlines()) > 100, timeout=60, what="output")
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: worker_status(state, name).get(f"in-{topic}-1", {}).get("restarts", 0) >= 1, timeout=60,
                   what="the killed partition worker restarted")

        def all_arrived() -> bool:
            return len({record["id"] for record in read_jsonl(out)}) == N  # complete lines: workers are writing

        eventually(all_arrived, timeout=90, what="every record")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(set(ids)) == list(range(N))
    assert len(list((state / "checkpoints").glob(f"{name}.in-*.json"))) == 3  # one checkpoint per partition


def test_brokers_gone_for_good_escalate_to_paused(own_broker: Broker, names: Any, tmp_path: Path) -> None:
    topic, name = names("gone"), names("gone")
    own_broker.create_topics(topic, partitions=1)
    own_broker.produce(topic, ({"id": i} for i in range(10)))
    state = tmp_path / "state"
    config = {
        "name": name,
        "supervision": {"max_restarts": 1, "within_seconds": 120, "backoff": {"initial": 0.1, "max": 0.2},
                        "resume": {"max_attempts": 0}},
        "sources": {"in": {"type": "kafka", "brokers": own_broker.bootstrap, "topics": [topic],
                           "group_id": names("gone-group"), "auto_offset_reset": "earliest", "decoding": "json",
                           "session_timeout_ms": 6000, "unreachable_timeout": 2}},
        "sinks": {"out": {"type": "file", "inputs": ["in"], "path": str(tmp_path / "out.jsonl")}},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(path), "--json"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CONDUIX_STATE_DIR": str(state)})
    out = tmp_path / "out.jsonl"
    eventually(lambda: out.exists() and len(out.read_text().splitlines()) == 10, timeout=60,
               what="the worker consuming the 10 records")
    own_broker.kill()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    summary = json.loads([line for line in stderr.splitlines() if line.startswith("{")][-1])
    assert summary["status"] == "paused"
    assert summary["restarts"] == 1
    assert "gave up after 1 restarts" in summary["reason"] and "unreachable_timeout" in summary["reason"]
