"""Issue 17, item 3: an agent's credential works for its own agent id only, and child runs are checked.

A real control plane and two real agents, each with its own token. With agent a1's token: registering an
impostor (to attract placements and the YAML they carry), heartbeating for a2, reading a2's commands and
assignments, acknowledging a2's commands, reporting on or asking children of a2's runs — all refused.
A run may ask for child runs of the pipelines its own version may start, and only while it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import eventually

pytestmark = [pytest.mark.slow]

PARENT = """version: 1
name: parent
sources:
  ticks: {type: generate, count: 1000000, rate: 0.5}
transforms:
  start_child: {type: trigger, inputs: [ticks], pipeline: child}
sinks:
  out: {type: blackhole, inputs: [start_child]}
"""
CHILD = """version: 1
name: child
sources:
  one: {type: generate, count: 1}
sinks:
  out: {type: blackhole, inputs: [one]}
"""


def test_an_agent_token_works_for_its_own_agent_only(stack: Any, tmp_path: Path) -> None:
    cp = stack.control()
    stack.agent(cp, "a1", None, "--label", "zone=one")
    stack.agent(cp, "a2", None, "--label", "zone=two")
    for name, text in (("parent", PARENT), ("child", CHILD), ("other", CHILD.replace("child", "other"))):
        cp.put_pipeline(name, text, labels={"zone": "two"})
    cp.post("/pipelines/parent/start")
    run = eventually(lambda: (runs := cp.runs("parent")) and runs[0]["status"] == "running" and runs[0],
                     what="parent running on a2")
    assert run["agent_id"] == "a2"
    command = cp.get("/commands", agent="a2")[0]
    a1 = httpx.Client(base_url=cp.url, timeout=10, headers={"Authorization": f"Bearer {cp.agent_token('a1')}"})

    def refused(response: httpx.Response) -> bool:
        return response.status_code == 403 and "works for that agent only" in response.json()["detail"]

    for agent_id in ("a2", "impostor"):
        assert refused(a1.post("/agents/register", json={"id": agent_id, "host": "evil", "labels": {"zone": "two"},
                                                         "capacity": 100}))
    assert refused(a1.post("/agents/a2/heartbeat", json={"mode": "rest", "info": {}}))
    assert refused(a1.get("/agents/a2/commands"))
    assert refused(a1.get("/agents/a2/assignments"))
    assert refused(a1.post(f"/commands/{command['id']}/ack", json={"ok": False, "via": "rest", "result": "x"}))
    assert refused(a1.post(f"/runs/{run['id']}/report", json={"status": "failed", "error": "forged"}))
    assert refused(a1.post(f"/runs/{run['id']}/children", json={"pipeline": "child", "parameters": {}}))
    # its own business still works
    assert a1.get("/agents/a1/commands").status_code == 200
    assert a1.post("/agents/a1/heartbeat", json={"mode": "rest", "info": {}}).status_code == 200

    # nothing of the above changed anything
    assert cp.get(f"/commands/{command['id']}")["state"] == "acked"
    assert cp.get(f"/runs/{run['id']}")["status"] == "running"
    assert sorted(a["id"] for a in cp.get("/agents")) == ["a1", "a2"]

    # the agent that runs the parent may ask for what the parent's version may start, while it runs
    a2 = httpx.Client(base_url=cp.url, timeout=10, headers={"Authorization": f"Bearer {cp.agent_token('a2')}"})
    assert a2.post(f"/runs/{run['id']}/children", json={"pipeline": "child", "parameters": {}}).status_code == 201
    other = a2.post(f"/runs/{run['id']}/children", json={"pipeline": "other", "parameters": {}})
    assert other.status_code == 409 and "may not start 'other'" in other.json()["detail"]
    cp.post("/pipelines/parent/stop")
    eventually(lambda: cp.get(f"/runs/{run['id']}")["status"] == "stopped", what="parent stopped")
    late = a2.post(f"/runs/{run['id']}/children", json={"pipeline": "child", "parameters": {}})
    assert late.status_code == 409 and "only a running run" in late.json()["detail"]
    assert all(r["parent_run_id"] == run["id"] for r in cp.runs("child"))
    assert cp.runs("other") == []
