"""Issue 17, item 4: what pipelines can make agents do is gated by role and by the agent's allow-list.

A real control plane and real agents. An editor cannot save a pipeline that runs code; an agent refuses
code (unless started with --allow-code), files outside its allowed folders and hosts outside its allowed
hosts, before anything of the pipeline is built or read; a pipeline's code never sees the agent's token; a
``stdout`` sink cannot speak the agent protocol.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import ControlPlane, eventually

pytestmark = [pytest.mark.slow]


def as_role(cp: ControlPlane, role: str) -> httpx.Client:
    return httpx.Client(base_url=cp.url, timeout=10, headers={"Authorization": f"Bearer {cp.token(role)}"})


def ended(cp: ControlPlane, pipeline: str) -> dict[str, Any]:
    return eventually(lambda: (runs := cp.runs(pipeline)) and runs[0]["status"] not in ("pending", "running")
                      and runs[0], timeout=120, what=f"a run of {pipeline} ended")


def code_pipeline(name: str, modules: Path, out: Path) -> str:
    return f"""version: 1
name: {name}
sources:
  one: {{type: generate, count: 1}}
transforms:
  code: {{type: python, inputs: [one], function: "probe:spy", python_path: ["{modules}"]}}
sinks:
  out: {{type: file, inputs: [code], path: "{out}"}}
"""


SPY = '''import os


def spy(record):
    """What a pipeline's code can learn on the agent from its environment."""
    return {"token": os.environ.get("CONDUIX_CONTROL_TOKEN"), "names": sorted(os.environ)}
'''


def test_code_needs_an_admin_to_save_and_an_agent_that_allows_it(stack: Any, tmp_path: Path) -> None:
    modules = tmp_path / "mods"
    modules.mkdir()
    (modules / "probe.py").write_text(SPY + f"\nopen({str(tmp_path / 'imported')!r}, 'w').close()\n")
    cp = stack.control()
    refusing = stack.agent(cp, "careful", None, "--label", "kind=careful")
    text = code_pipeline("spy", modules, tmp_path / "spy.jsonl")

    editor = as_role(cp, "editor")
    refused = editor.put("/pipelines/spy", json={"yaml": text, "labels": {"kind": "careful"}})
    assert refused.status_code == 403 and "only admins may save" in refused.json()["detail"]
    assert cp.put_pipeline("spy", text, labels={"kind": "careful"})["current_version"] == 1  # the admin may
    cp.put_pipeline("spy", text.replace("count: 1", "count: 2"))
    rollback = editor.post("/pipelines/spy/rollback", json={"version": 1})
    assert rollback.status_code == 403

    # an agent without --allow-code refuses it before importing anything
    assert editor.post("/pipelines/spy/start").status_code == 202
    run = ended(cp, "spy")
    assert run["status"] == "failed" and "does not allow that" in run["error"] and "--allow-code" in run["error"]
    assert not (tmp_path / "imported").exists() and not (tmp_path / "spy.jsonl").exists()
    editor.post("/pipelines/spy/stop")
    refusing.stop()

    # an agent that allows code runs it; the code does not get the agent's token
    stack.agent(cp, "trusting", None, "--label", "kind=careful", "--allow-code")
    editor.post("/pipelines/spy/start")
    eventually(lambda: cp.runs("spy")[0]["status"] == "succeeded", timeout=60, what="spy ran")
    [*_, seen] = [json.loads(line) for line in (tmp_path / "spy.jsonl").read_text().splitlines()]
    assert seen["token"] is None and "CONDUIX_STATE_DIR" in seen["names"]  # the rest of the environment is there
    assert cp.agent_token("trusting") not in (tmp_path / "spy.jsonl").read_text()
    # and the agent is not dumpable: processes of its user cannot read its environment in /proc (root still can)
    assert cp.agent("trusting")["info"]["dumpable"] is False


def test_files_and_hosts_outside_the_agents_allow_list_are_refused_before_anything_is_read(
        stack: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the agent's secret: hunter2\n")
    cp = stack.control()
    stack.agent(cp, "a1", None, "--allow-path", str(data), "--allow-host", "127.0.0.1",
                allow_test_folder=False)
    editor = as_role(cp, "editor")
    attacks = {
        "read": f'sources: {{s: {{type: file, path: "{data}/../secret.txt"}}}}\n'
                f'sinks: {{out: {{type: file, inputs: [s], path: "{data}/copy.jsonl"}}}}',
        "program": f'sources: {{s: {{type: generate, count: 1}}}}\n'
                   f'transforms: {{r: {{type: remap, inputs: [s], file: "{secret}"}}}}\n'
                   f'sinks: {{out: {{type: blackhole, inputs: [r]}}}}',
        "write": f'sources: {{s: {{type: generate, count: 1}}}}\n'
                 f'sinks: {{out: {{type: file, inputs: [s], path: "{tmp_path}/planted.sh"}}}}',
        "egress": 'sources: {s: {type: generate, count: 1}}\n'
                  'sinks: {out: {type: http, inputs: [s], url: "http://169.254.169.254/latest/meta-data/"}}',
    }
    for name, body in attacks.items():
        saved = editor.put(f"/pipelines/{name}", json={"yaml": f"version: 1\nname: {name}\n{body}\n"})
        assert saved.status_code == 201, saved.text
        editor.post(f"/pipelines/{name}/start")
    errors = {name: ended(cp, name)["error"] for name in attacks}
    for name in attacks:  # else they keep being placed again (and take the agent's capacity)
        editor.post(f"/pipelines/{name}/stop")
    assert "outside the folders this agent lets pipelines use" in errors["read"]
    assert "outside the folders" in errors["program"] and "hunter2" not in errors["program"]
    assert "outside the folders" in errors["write"]
    assert "'169.254.169.254' is not among the hosts" in errors["egress"]
    assert not (data / "copy.jsonl").exists() and not (tmp_path / "planted.sh").exists()
    assert "hunter2" not in json.dumps(cp.get("/runs"))

    # what the allow-list does allow still works
    ok = f'sources: {{s: {{type: generate, count: 3}}}}\nsinks: {{out: {{type: file, inputs: [s], path: "{data}/ok"}}}}'
    cp.put_pipeline("fine", f"version: 1\nname: fine\n{ok}\n")
    cp.post("/pipelines/fine/start")
    assert ended(cp, "fine")["status"] == "succeeded"
    assert len((data / "ok").read_text().splitlines()) == 3


def test_a_stdout_sink_cannot_speak_the_agent_protocol(stack: Any, tmp_path: Path) -> None:
    cp = stack.control()
    agent = stack.agent(cp, "a1")
    forged = [{"event": "finished", "status": "succeeded", "records_out": 10**9},
              {"event": "child", "pipeline": "elsewhere", "parameters": {}}]
    cp.put_pipeline("talker", f"""version: 1
name: talker
sources:
  lines: {{type: generate, count: 200, rate: 100, records: {json.dumps(forged)}}}
  input: {{type: stdin}}
sinks:
  out: {{type: stdout, inputs: [lines, input]}}
""")
    cp.post("/pipelines/talker/start")
    run = ended(cp, "talker")
    assert (run["status"], run["records_out"]) == ("succeeded", 200)  # its own numbers, not the forged ones
    assert cp.runs("elsewhere") == [] and "elsewhere" in agent.log()  # printed (to stderr), not obeyed
    assert "refused a run of child pipeline" not in agent.log()
