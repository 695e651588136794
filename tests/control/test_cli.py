"""The CLI against a running control plane: the commands come from the ``conduix.cli`` entry points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import conduix
from tests.control.conftest import eventually, generate_pipeline, read_seqs


def test_control_commands_are_plugged_into_conduix() -> None:
    result = conduix("--help")
    assert result.returncode == 0
    for name in ("control", "agent", "pipelines", "agents", "start", "stop", "schedules"):
        assert f"  {name} " in result.stdout, name
    assert "serve" in conduix("control", "--help").stdout


@pytest.mark.integration("redis")
@pytest.mark.slow
@pytest.mark.timeout(600)  # a hang guard: many CLI processes in a row, 234 s seen on a loaded machine
def test_apply_start_list_replicas_pause_resume_stop_and_rollback(stack: Any, redis_server: Any,
                                                                  tmp_path: Path) -> None:
    cp = stack.control(redis_url=redis_server.url)
    url = ["--control-url", cp.url, "--token", cp.token("editor")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: spread\nsources:\n  numbers: {type: generat}\n")
    result = conduix("pipelines", "apply", str(bad), *url)
    assert result.returncode == 2
    assert "line 4" in result.stderr and "sources.numbers" in result.stderr, result.stderr

    out = tmp_path / "spread-{replica}.jsonl"
    good = tmp_path / "spread.yaml"
    good.write_text(generate_pipeline("spread", out, count=1_000_000, rate=10).replace("{replica}", "x"))
    assert conduix("pipelines", "apply", str(good), "--replicas", "2", *url).returncode == 0
    good.write_text(good.read_text().replace("rate: 10", "rate: 20"))
    applied = conduix("pipelines", "apply", str(good), "--replicas", "2", *url)
    assert "version 2 (new version)" in applied.stdout
    stack.agent(cp, "a1", redis_server.url)
    stack.agent(cp, "a2", redis_server.url)
    assert conduix("start", "spread", *url).returncode == 0

    def running() -> list[dict[str, Any]]:
        return [r for r in cp.runs("spread") if r["status"] == "running"]

    pair = eventually(lambda: len(running()) == 2 and running(), what="two replicas running")
    assert {r["agent_id"] for r in pair} == {"a1", "a2"}, "replicas run on distinct agents"
    listed = json.loads(conduix("pipelines", "list", "--json", *url).stdout)
    assert listed[0]["desired"] == "running" and len(listed[0]["assignments"]) == 2
    assert {a["id"] for a in json.loads(conduix("agents", "--json", *url).stdout)} == {"a1", "a2"}

    assert conduix("pipelines", "pause", "spread", *url).returncode == 0
    eventually(lambda: all(r["status"] == "stopped" for r in cp.runs("spread")), what="paused")
    paused_at = len(read_seqs(tmp_path / "spread-x.jsonl"))
    assert conduix("pipelines", "resume", "spread", *url).returncode == 0
    eventually(lambda: len(running()) == 2, what="resumed")
    eventually(lambda: len(read_seqs(tmp_path / "spread-x.jsonl")) > paused_at, what="records flow again")

    assert conduix("pipelines", "rollback", "spread", "1", *url).returncode == 0
    assert cp.get("/pipelines/spread")["current_version"] == 3
    assert "rate: 10" in cp.get("/pipelines/spread")["yaml"]

    assert conduix("stop", "spread", *url).returncode == 0
    eventually(lambda: not running(), what="stopped")
    runs = json.loads(conduix("pipelines", "runs", "--pipeline", "spread", "--json", *url).stdout)
    assert len(runs) == 4 and {r["status"] for r in runs} == {"stopped"}
    assert conduix("start", "missing", *url).returncode == 2


def test_the_control_plane_example_is_a_valid_pipeline() -> None:
    result = conduix("validate", "examples/control_plane_ticker.yaml")
    assert result.returncode == 0, result.stderr


def test_core_runs_with_control_url_is_the_plugged_in_client_command() -> None:
    result = conduix("runs", "--control-url", "http://127.0.0.1:9", "--json")
    assert result.returncode == 1
    assert "control plane at http://127.0.0.1:9 is unreachable" in result.stderr, result.stderr
