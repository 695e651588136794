"""No request gets a 5xx (issue 17, item 11): schemathesis fuzzes every operation of a real control plane's
OpenAPI document with an admin token (generated values, boundaries, wrong types, missing and extra fields).

The control plane runs on PostgreSQL, the strictest of its databases (32-bit INTEGER ids, no NUL characters in
text): what passes there passes on SQLite and MariaDB too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.control.conftest import eventually

#: generated cases per operation, besides the coverage phase's boundary values (most of the ~1,200 requests;
#: half a minute on an idle 2-core machine, a few on a loaded one)
MAX_EXAMPLES = 5
#: revoking tokens is fuzzed on its own, last: an early hit could revoke the fuzzer's own token
TOKEN_REVOKE = "/auth/tokens/{token_id}"
ORDERS = """version: 1
name: orders
sources:
  n: {type: generate, count: 1}
sinks:
  o: {type: blackhole, inputs: [n]}
"""


def seed(cp: Any) -> dict[str, list[Any]]:
    """Rows for the path parameters to name half of the time (else the fuzzer's own values), so that the
    operations on a pipeline, agent, run, schedule or command get past their 404."""
    cp.put_pipeline("orders", ORDERS)
    register = {"id": "a1", "host": "h", "labels": {}, "capacity": 2, "mode": "rest"}
    assert cp.post("/agents/register", register).status_code == 200
    assert cp.post("/pipelines/orders/start").status_code < 300
    command = cp.post("/agents/a1/commands", {"kind": "stop", "pipeline": "orders"}).json()
    schedule = cp.post("/schedules", {"pipeline": "orders", "cron": "0 3 * * *"}).json()
    runs = eventually(lambda: cp.runs("orders"), what="the pipeline placed on agent a1 (a run)")
    return {"name": ["orders"], "agent_id": ["a1"], "run_id": [runs[0]["id"]], "schedule_id": [schedule["id"]],
            "command_id": [command["id"]]}


def config_file(path: Path, values: dict[str, list[Any]]) -> Path:
    lines = ["[phases.coverage]", "unexpected-methods = []  # Starlette's 405s for undeclared methods", ""]
    for name, known in values.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(known)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in values]
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis(url: str, token: str, config: Path, report: Path,
                 *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{url}/openapi.json",
         "--checks", "not_a_server_error", "--header", f"Authorization: Bearer {token}",
         "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--phases", "coverage,fuzzing",
         "--request-timeout", "20", "--seed", "17", "--no-shrink", "--report", "junit",
         "--report-junit-path", str(report), *selection],
        capture_output=True, text=True, timeout=900, cwd=report.parent)  # its .schemathesis cache there


@pytest.mark.integration("postgresql")
@pytest.mark.timeout(900)  # a hang guard as schemathesis's own: ~1,200 requests take minutes on a loaded machine
def test_no_operation_answers_a_server_error(stack: Any, postgres_url: str) -> None:
    cp = stack.control(postgres_url, extra_env={"CONDUIX_CONTROL_TICK": "5"})  # the leader's work is not tested
    token = cp.token("admin")
    config = config_file(stack.root / "schemathesis.toml", seed(cp))
    for selection, report in ((["--exclude-path", TOKEN_REVOKE], "all.xml"),
                              (["--include-path", TOKEN_REVOKE], "revoke.xml")):
        run = schemathesis(cp.url, token, config, stack.root / report, *selection)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert "Server error" not in run.stdout
        assert "Traceback" not in cp.log(), cp.log()[-4000:]
    tested = sum(len(ElementTree.parse(stack.root / report).getroot().findall(".//testcase"))
                 for report in ("all.xml", "revoke.xml"))
    paths = cp.get("/openapi.json")["paths"]
    assert tested == sum(len(item) for item in paths.values())  # every operation was fuzzed
