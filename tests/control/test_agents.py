"""Agents and the control plane as real processes: command channel modes, failover, split brain."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.control.conftest import ControlPlane, RedisServer, eventually, generate_pipeline, read_seqs

pytestmark = [pytest.mark.integration("redis"), pytest.mark.slow]


def current_run(cp: ControlPlane, pipeline: str, status: str = "running") -> dict[str, Any] | None:
    runs = cp.runs(pipeline)
    return runs[0] if runs and runs[0]["status"] == status else None


def wait_acked(cp: ControlPlane, command_id: str) -> dict[str, Any]:
    return eventually(lambda: (c := cp.get(f"/commands/{command_id}"))["state"] == "acked" and c,
                      timeout=30, what=f"command {command_id} acknowledged")


def applied_ids(log: str) -> Counter[str]:
    return Counter(re.findall(r"applying command ([0-9a-f-]{36})", log))


def test_command_channel_redis_then_rest_while_redis_is_down_then_redis_again(
        stack: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    cp = stack.control(redis_url=redis_server.url)
    agent = stack.agent(cp, "a1", redis_server.url)
    eventually(lambda: cp.agent("a1")["mode"] == "redis", what="agent in Redis mode")
    cp.put_pipeline("ticker", generate_pipeline("ticker", tmp_path / "out.jsonl", count=1_000_000, rate=20))
    assert cp.post("/pipelines/ticker/start").status_code == 202
    eventually(lambda: current_run(cp, "ticker"), what="pipeline running")

    # 1. a command round trip over pub/sub
    response = cp.post("/pipelines/ticker/restart")
    assert response.status_code == 200, response.text
    first = response.json()["commands"][0]
    assert first["state"] == "sent"
    assert wait_acked(cp, first["id"])["via"] == "redis"

    # 2. Redis dies: the agent falls back to REST; commands are stored (202) and still arrive
    redis_server.kill()
    eventually(lambda: cp.agent("a1")["mode"] == "rest", timeout=30, what="agent in REST mode")
    response = cp.post("/pipelines/ticker/restart")
    assert response.status_code == 202, response.text
    second = response.json()["commands"][0]
    assert second["state"] == "pending"
    assert wait_acked(cp, second["id"])["via"] == "rest"
    eventually(lambda: current_run(cp, "ticker"), what="restarted while Redis is down")

    # 3. Redis is back: the agent returns to Redis mode (through hybrid) and pub/sub works again
    redis_server.start()
    eventually(lambda: cp.agent("a1")["mode"] == "redis", timeout=40, what="agent back in Redis mode")
    response = cp.post("/pipelines/ticker/restart")
    assert response.status_code == 200, response.text
    third = response.json()["commands"][0]
    assert wait_acked(cp, third["id"])["via"] == "redis"

    # nothing applied twice: one application per command, one run per start/restart
    eventually(lambda: current_run(cp, "ticker"), what="running after the last restart")
    counts = applied_ids(agent.log())
    for cmd in (first, second, third):
        assert counts[cmd["id"]] == 1, counts
    assert all(n == 1 for n in counts.values()), counts
    runs = cp.runs("ticker")
    assert len(runs) == 4  # start + three restarts
    assert [r["status"] for r in runs[1:]] == ["stopped"] * 3
    assert [r["parent_run_id"] for r in runs] == [None] * 4  # restarts are not child runs
    modes = re.findall(r"command channel (\w+) -> (\w+)", agent.log())
    assert ("redis", "hybrid") in modes and ("hybrid", "rest") in modes and ("rest", "hybrid") in modes
    assert modes[-1] == ("hybrid", "redis")


def file_pipeline(name: str, source: Path, out: Path) -> str:
    """Follows a JSON-lines file (checkpoint: offset per file) into another one."""
    return f"""version: 1
name: {name}
settings:
  batch_size: 10
  checkpoint: {{interval: 0.3}}
sources:
  lines: {{type: file, path: {source}, format: json, follow: true, glob_interval: 0.2}}
sinks:
  out: {{type: file, inputs: [lines], path: {out}}}
"""


def append_slowly(path: Path, total: int, per_second: float, gate: threading.Event | None = None,
                  before_gate: int = 0) -> threading.Thread:
    """Appends ``total`` lines at ``per_second``; with ``gate``, waits for it after the first ``before_gate``."""
    def write() -> None:
        with open(path, "a") as handle:
            for seq in range(total):
                if gate is not None and seq == before_gate:
                    gate.wait(120)
                handle.write(json.dumps({"seq": seq}) + "\n")
                handle.flush()
                time.sleep(1 / per_second)

    path.touch()
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("source", ["generate", "file"])
def test_sigkilled_agent_is_replaced_and_the_pipeline_resumes_from_its_checkpoint(
        stack: Any, redis_server: RedisServer, tmp_path: Path, source: str) -> None:
    out = tmp_path / "numbers.jsonl"
    total = 300
    cp = stack.control(redis_url=redis_server.url)
    first = stack.agent(cp, "a1", redis_server.url)
    rest = threading.Event()  # the file's last 200 lines are written after the kill
    if source == "generate":  # endless: a1 cannot have finished when it is killed, however slow the machine
        cp.put_pipeline("numbers", generate_pipeline("numbers", out, count=1_000_000, rate=30))
    else:
        writer = append_slowly(tmp_path / "in.jsonl", total, per_second=30, gate=rest, before_gate=100)
        cp.put_pipeline("numbers", file_pipeline("numbers", tmp_path / "in.jsonl", out))
    cp.post("/pipelines/numbers/start")
    killed_run = eventually(lambda: current_run(cp, "numbers"), what="running on a1")
    assert killed_run["agent_id"] == "a1"
    stack.agent(cp, "a2", redis_server.url)  # ready to take over (the run stays where it was placed)
    eventually(lambda: len(read_seqs(out)) >= 60, what="a1 delivered some records")

    first.signal_group(signal.SIGKILL)  # the agent and its worker, like a machine that died
    rest.set()
    written_by_a1 = len(read_seqs(out))
    assert source == "generate" or written_by_a1 < total, "killed mid-stream"
    eventually(lambda: cp.agent("a1")["status"] == "offline", timeout=30, what="a1 marked offline")
    assert cp.get(f"/runs/{killed_run['id']}")["status"] == "lost"
    if source == "generate":
        eventually(lambda: len(read_seqs(out)) >= written_by_a1 + 60, timeout=60, what="a2 delivering")
        replacement = eventually(lambda: current_run(cp, "numbers"), what="running on a2")
        cp.post("/pipelines/numbers/stop")
        eventually(lambda: current_run(cp, "numbers", "stopped"), timeout=30, what="stopped on a2")
        total = max(read_seqs(out)) + 1
    else:
        writer.join()
        eventually(lambda: set(read_seqs(out)) == set(range(total)), timeout=60, what="all lines delivered")
        replacement = eventually(lambda: current_run(cp, "numbers"), what="still running on a2")
    assert replacement["agent_id"] == "a2" and replacement["id"] > killed_run["id"]

    seqs = read_seqs(out)
    assert set(seqs) == set(range(total)) and total > written_by_a1, "nothing lost"
    assert Counter(seqs)[0] == 1, "a2 resumed from the checkpoint instead of starting over"
    duplicates = len(seqs) - total
    assert duplicates < 60, f"{duplicates} duplicates: more than a few checkpoint intervals' worth"


@pytest.mark.parametrize("supervised", [False, True], ids=["in-process", "supervised"])
def test_agent_paused_past_its_lease_stops_and_its_stale_checkpoint_write_is_rejected(
        stack: Any, redis_server: RedisServer, tmp_path: Path, supervised: bool) -> None:
    """Supervised, the stale write happens in a worker process of the tree: it still fences the whole run."""
    out = tmp_path / "ticks.jsonl"
    cp = stack.control(redis_url=redis_server.url)
    paused = stack.agent(cp, "a1", redis_server.url)
    cp.put_pipeline("ticks", generate_pipeline("ticks", out, count=1_000_000, rate=20, supervised=supervised))
    cp.post("/pipelines/ticks/start")
    old_run = eventually(lambda: current_run(cp, "ticks"), what="running on a1")
    eventually(lambda: len(read_seqs(out)) >= 10, what="a1 delivered some records")
    stack.agent(cp, "a2", redis_server.url)

    paused.signal_group(signal.SIGSTOP)  # agent and worker frozen: no heartbeats, no lease renewals
    eventually(lambda: cp.agent("a1")["status"] == "offline", timeout=30, what="a1 marked offline")
    new_run = eventually(lambda: (r := current_run(cp, "ticks")) and r["agent_id"] == "a2" and r,
                         timeout=30, what="running on a2")
    assert new_run["token"] > old_run["token"]
    redis = redis_server.client()

    def checkpoint() -> dict[str, Any]:
        keys = redis.keys("conduix:*:pipeline:ticks:checkpoint")  # under the deployment's prefix
        return json.loads(redis.get(keys[0]) or "{}") if keys else {}

    eventually(lambda: checkpoint().get("lease_token") == new_run["token"], what="a2 checkpoints")

    paused.signal_group(signal.SIGCONT)
    ended = eventually(lambda: (r := cp.get(f"/runs/{old_run['id']}"))["status"] in ("fenced", "lease_expired")
                       and r, timeout=30, what="a1 stopped its pipeline")
    log = paused.log()
    # Which of a1's threads acts first on waking is a race: its lease watcher ("expired") or the pipeline's next
    # checkpoint write. The write loses either way: the run's last checkpoint, written as it stops, is refused.
    assert re.search(r"checkpoint of ticks rejected: this agent's lease token \d+ is stale", log), \
        "a1's checkpoint write after waking up was rejected"
    assert ended["status"] == "fenced" and "stale" in ended["error"]
    # a2 keeps the pipeline, and the checkpoint is still a2's
    at_wake = checkpoint()
    eventually(lambda: checkpoint() != at_wake, timeout=30, what="a2 checkpoints again after a1 woke up")
    assert current_run(cp, "ticks")["id"] == new_run["id"]
    assert checkpoint()["lease_token"] == new_run["token"]
    assert [a["agent_id"] for a in cp.get("/assignments", pipeline="ticks", status="active")] == ["a2"]


def test_agent_cut_off_from_control_plane_and_redis_runs_until_its_lease_expires(
        stack: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    out = tmp_path / "cut.jsonl"
    cp = stack.control(redis_url=redis_server.url)
    agent = stack.agent(cp, "a1", redis_server.url)
    cp.put_pipeline("cut", generate_pipeline("cut", out, count=1_000_000, rate=20))
    cp.post("/pipelines/cut/start")
    eventually(lambda: current_run(cp, "cut"), what="running")
    eventually(lambda: len(read_seqs(out)) >= 10, what="records flow")

    cp.signal_group(signal.SIGKILL)
    redis_server.kill()
    at_cut = len(read_seqs(out))
    eventually(lambda: len(read_seqs(out)) > at_cut + 5, what="the pipeline keeps running while its lease lasts")
    eventually(lambda: "finished: lease_expired" in agent.log(), timeout=30, what="stopped when the lease expired")
    stopped_at = len(read_seqs(out))
    time.sleep(1.5)  # sleep-ok: nothing may happen meanwhile (30 records' time at 20/s)
    assert len(read_seqs(out)) == stopped_at, "nothing is written after the lease expired"
    assert agent.proc.poll() is None, "the agent itself keeps trying to reach the control plane"


def test_rest_only_agent_without_redis(stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "rest.jsonl"
    cp = stack.control()
    stack.agent(cp, "a1")
    assert cp.agent("a1")["mode"] == "rest"
    cp.put_pipeline("rest", generate_pipeline("rest", out, count=50, rate=100))
    assert cp.post("/pipelines/rest/start").status_code == 202
    done = eventually(lambda: current_run(cp, "rest", "succeeded"), timeout=60, what="finished")
    assert done["records_out"] == 50 and sorted(read_seqs(out)) == list(range(50))
    [start] = cp.get("/commands", agent="a1")
    assert (start["kind"], start["state"], start["via"]) == ("start", "acked", "rest")
    assert cp.get("/pipelines/rest")["desired"] == "completed"
