"""The endpoints behind the web UI: validation as you type, the DAG, live stats, agents, schedules,
run trees (pipelines of pipelines) and retries. In-process first, then real agents for live stats and child runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conduix_control.scheduler.loop import LeaderLoop
from conduix_control.settings import ControlSettings
from tests.control.conftest import eventually
from tests.control.test_api import DATABASES, GOOD, admin_api

TRANSFORMED = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
transforms:
  tag:
    type: remap
    inputs: [numbers]
    source: .tagged = true
sinks:
  out: {type: blackhole, inputs: [tag]}
"""

TRIGGERING = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
transforms:
  invoices: {type: trigger, inputs: [numbers], pipeline: invoice}
sinks:
  out: {type: blackhole, inputs: [invoices]}
"""

CHILD = """version: 1
name: invoice
sources:
  one: {type: generate, count: 1}
sinks:
  out: {type: blackhole, inputs: [one]}
"""


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, LeaderLoop]]:
    yield from admin_api(request, tmp_path, ControlSettings(heartbeat_timeout=30.0, tick=0.1))


def test_validate_as_you_type_answers_200_with_errors_at_their_lines_or_the_graph(api: Any) -> None:
    client, _ = api
    ok = client.post("/pipelines/orders/validate", json={"yaml": TRANSFORMED})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    graph = ok.json()["graph"]
    assert {(n["id"], n["kind"], n["type"]) for n in graph["nodes"]} == {
        ("numbers", "source", "generate"), ("tag", "transform", "remap"), ("out", "sink", "blackhole")}
    assert [(e["from"], e["to"]) for e in graph["edges"]] == [("numbers", "tag"), ("tag", "out")]

    typo = client.post("/pipelines/orders/validate", json={"yaml": TRANSFORMED.replace("count: 10", "cuont: 10")})
    assert typo.status_code == 200 and typo.json()["valid"] is False
    [error] = typo.json()["errors"]
    assert (error["line"], error["column"], error["path"]) == (4, 29, "sources.numbers.cuont")
    assert "count" in error["hint"]

    half_typed = client.post("/pipelines/orders/validate", json={"yaml": "version: 1\nsources:\n  a: {type: [\n"})
    assert half_typed.status_code == 200 and half_typed.json()["valid"] is False
    assert half_typed.json()["errors"][0]["line"] is not None

    other_name = client.post("/pipelines/other/validate", json={"yaml": TRANSFORMED}).json()
    assert other_name["valid"] is False and other_name["errors"][0]["path"] == "name"
    assert client.get("/pipelines/orders").status_code == 404  # validating stores nothing


def test_graph_of_the_current_version(api: Any) -> None:
    client, _ = api
    assert client.get("/pipelines/orders/graph").status_code == 404
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.put("/pipelines/orders", json={"yaml": TRANSFORMED})
    assert [n["id"] for n in client.get("/pipelines/orders/graph").json()["nodes"]] == ["numbers", "tag", "out"]
    assert [n["id"] for n in client.get("/pipelines/orders/graph", params={"version": 1}).json()["nodes"]] == [
        "numbers", "out"]


def register(client: TestClient, agent_id: str, capacity: int) -> None:
    response = client.post("/agents/register", json={"id": agent_id, "host": "h", "labels": {}, "capacity": capacity})
    assert response.status_code == 200, response.text


def components(records: int, lag: int | None = 7) -> dict[str, Any]:
    return {"numbers": {"kind": "source", "type": "generate", "records_in": 0, "records_out": records, "errors": 0,
                        "dead_letters": 0, "dropped": 0, "retries": 0, "restarts": 0, "buffered": 0, "lag": lag},
            "out": {"kind": "sink", "type": "blackhole", "records_in": records, "records_out": records, "errors": 1,
                    "dead_letters": 2, "dropped": 0, "retries": 3, "restarts": 1, "buffered": 0, "lag": None}}


def test_reports_feed_stats_with_rates_the_pipelines_list_and_the_agents_list(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD, "replicas": 2})
    register(client, "b", 2)
    [row] = client.get("/pipelines").json()
    assert (row["status"], row["throughput"], row["records_in"], row["records_out"]) == ("stopped", 0, 0, 0)
    client.post("/pipelines/orders/start")
    leader.tick()
    assert client.get("/pipelines").json()[0]["status"] == "starting"
    runs = {a["replica"]: a["run_id"] for a in client.get("/assignments", params={"pipeline": "orders"}).json()}
    t = time.time()
    for run_id in runs.values():  # two reports two seconds apart (the workers' clock): 100 records/s each
        client.post(f"/runs/{run_id}/report", json={"status": "running", "records_in": 100, "records_out": 100,
                                                    "components": components(100), "time": t})
        client.post(f"/runs/{run_id}/report", json={"records_in": 300, "records_out": 300,
                                                    "components": components(300), "time": t + 2})

    stats = client.get("/pipelines/orders/stats").json()
    assert stats["pipeline"] == "orders" and stats["desired"] == "running"
    assert sorted((r["replica"], r["status"], r["records_out"]) for r in stats["runs"]) == [
        (0, "running", 300), (1, "running", 300)]
    out, numbers = stats["components"]["out"], stats["components"]["numbers"]
    assert (out["kind"], out["type"], out["records_in"], out["errors"], out["dead_letters"], out["retries"],
            out["restarts"], out["lag"]) == ("sink", "blackhole", 600, 2, 4, 6, 2, None)
    assert out["rate_in"] == pytest.approx(200.0) and numbers["rate_out"] == pytest.approx(200.0)
    assert numbers["lag"] == 14  # summed over replicas

    [row] = client.get("/pipelines").json()
    assert (row["status"], row["records_in"], row["records_out"]) == ("running", 600, 600)
    assert row["throughput"] == pytest.approx(200.0)

    agents = {a["id"]: a for a in client.get("/agents").json()}
    assert 0 <= agents["a"]["heartbeat_age"] < 30 and agents["a"]["mode"] == "rest"
    held = agents["a"]["assignments"] + agents["b"]["assignments"]
    assert sorted((x["pipeline"], x["replica"], x["status"]) for x in held) == [
        ("orders", 0, "active"), ("orders", 1, "active")]
    assert {x["run_id"] for x in held} == set(runs.values())

    client.post("/pipelines/orders/stop")
    assert client.get("/pipelines").json()[0]["status"] == "stopping"  # until the workers say they stopped
    for run_id in runs.values():
        client.post(f"/runs/{run_id}/report", json={"status": "stopped"})
    [row] = client.get("/pipelines").json()  # stopped: nothing flows, the last numbers stay
    assert (row["status"], row["throughput"], row["records_out"]) == ("stopped", 0, 600)
    assert client.get("/pipelines/orders/stats").json()["components"]["out"]["rate_in"] == 0
    assert client.get("/pipelines/nope/stats").status_code == 404


def test_schedule_preview_and_patch(api: Any) -> None:
    client, _ = api
    preview = client.post("/schedules/preview", json={"cron": "30 2 * * *", "timezone": "Asia/Kolkata", "count": 3})
    assert preview.status_code == 200
    assert len(preview.json()["next_runs"]) == 3
    assert all(t.endswith("T02:30:00+05:30") for t in preview.json()["next_runs"])
    bad = client.post("/schedules/preview", json={"cron": "61 * * * *", "timezone": "UTC"})
    assert bad.status_code == 422
    assert "61 * * * *" in bad.json()["detail"] and "*/15 * * * *" in bad.json()["detail"]  # what, and an example
    assert client.post("/schedules/preview", json={"cron": "* * * * *", "timezone": "Mars/Olympus"}).status_code == 422

    client.put("/pipelines/orders", json={"yaml": GOOD})
    row = client.post("/schedules", json={"pipeline": "orders", "cron": "0 3 * * *"}).json()
    patched = client.patch(f"/schedules/{row['id']}", json={"cron": "15 4 * * *", "enabled": False})
    assert patched.status_code == 200
    assert (patched.json()["cron"], patched.json()["enabled"]) == ("15 4 * * *", False)
    assert patched.json()["next_runs"][0].endswith("T04:15:00+00:00")
    assert client.patch(f"/schedules/{row['id']}", json={"cron": "nope"}).status_code == 422
    assert client.get(f"/schedules/{row['id']}").json()["cron"] == "15 4 * * *"
    assert client.patch("/schedules/999", json={"enabled": True}).status_code == 404


def test_a_child_its_parent_triggers_is_started_by_the_trigger_only(api: Any) -> None:
    client, leader = api
    register(client, "a", 4)
    client.put("/pipelines/orders", json={"yaml": TRIGGERING})
    client.put("/pipelines/invoice", json={"yaml": CHILD.replace("name: invoice", "name: invoice\nparent: orders")})
    client.put("/pipelines/receipt", json={"yaml": CHILD.replace("name: invoice", "name: receipt\nparent: orders")})
    client.post("/pipelines/orders/start")
    leader.tick()
    start = next(c for c in client.get("/agents/a/commands").json() if c["pipeline"] == "orders")
    # receipt: a run per record the agent hands over; invoice: the trigger stage requests its runs (was: both)
    assert [c["pipeline"] for c in start["payload"]["children"]] == ["receipt"]
    [parent] = client.get("/runs", params={"pipeline": "orders"}).json()
    for child in ("invoice", "receipt"):
        assert client.post(f"/runs/{parent['id']}/children", json={"pipeline": child}).status_code == 201


def test_child_runs_form_a_tree_and_failed_ones_are_retried_under_the_same_parent(api: Any) -> None:
    client, leader = api
    register(client, "a", 4)
    client.put("/pipelines/orders", json={"yaml": TRIGGERING})
    client.put("/pipelines/invoice", json={"yaml": CHILD})
    client.post("/pipelines/orders/start")
    leader.tick()
    [parent] = client.get("/runs", params={"pipeline": "orders"}).json()
    requested = client.post(f"/runs/{parent['id']}/children", json={"pipeline": "invoice",
                                                                     "parameters": {"order_id": 7}})
    assert requested.status_code == 201
    child = requested.json()["run"]
    assert (child["status"], child["parent_run_id"], child["parameters"]) == ("pending", parent["id"], {"order_id": 7})
    assert client.post(f"/runs/{parent['id']}/children", json={"pipeline": "nope"}).status_code == 409  # not its
    assert client.post("/runs/999/children", json={"pipeline": "invoice"}).status_code == 404

    leader.tick()  # the leader places the child run once, with its parameters and a checkpoint id of its own
    start = next(c for c in client.get("/agents/a/commands").json() if c["pipeline"] == "invoice")
    assert start["payload"]["run_id"] == child["id"] and start["payload"]["parameters"] == {"order_id": 7}
    assert start["payload"]["checkpoint_id"] == f"invoice.run{child['id']}"
    assert client.get(f"/runs/{child['id']}").json()["agent_id"] == "a"
    leader.tick()  # not placed twice, and a child pipeline that is not "running" gets no replicas
    assert len(client.get("/assignments", params={"pipeline": "invoice"}).json()) == 1

    [root] = client.get("/runs/tree").json()
    assert root["id"] == parent["id"] and [c["id"] for c in root["children"]] == [child["id"]]
    assert root["children"][0]["children"] == []
    assert [r["id"] for r in client.get("/runs/tree", params={"pipeline": "invoice"}).json()] == [child["id"]]
    assert all("children" not in r for r in client.get("/runs").json())

    assert client.post(f"/runs/{child['id']}/retry").status_code == 409  # still pending/running
    client.post(f"/runs/{child['id']}/report", json={"status": "failed", "error": "boom"})
    assert client.get("/pipelines/invoice").json()["desired"] == "stopped"  # a child run changes no desired state
    retried = client.post(f"/runs/{child['id']}/retry")
    assert retried.status_code == 202
    again = retried.json()["run"]
    assert (again["pipeline"], again["parent_run_id"], again["parameters"], again["version"]) == (
        "invoice", parent["id"], {"order_id": 7}, child["version"])
    leader.tick()
    assert client.get(f"/runs/{again['id']}").json()["assignment_id"] is not None
    [root] = client.get("/runs/tree").json()
    assert [c["id"] for c in root["children"]] == [child["id"], again["id"]]


def test_retrying_a_replica_run_starts_the_pipeline_again_with_that_run(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.post("/pipelines/orders/start")
    leader.tick()
    [run] = client.get("/runs").json()
    assert client.post(f"/runs/{run['id']}/retry").status_code == 409  # pending: nothing to retry
    client.post("/pipelines/orders/stop")
    client.post(f"/runs/{run['id']}/report", json={"status": "stopped"})
    client.put("/pipelines/orders", json={"yaml": TRANSFORMED})  # version 2 meanwhile
    retried = client.post(f"/runs/{run['id']}/retry")
    assert retried.status_code == 202
    new = retried.json()["run"]
    assert (new["status"], new["version"], new["parent_run_id"]) == ("pending", 1, None)
    assert client.get("/pipelines/orders").json()["desired"] == "running"
    assert client.post(f"/runs/{run['id']}/retry").status_code == 409  # the replica is about to run
    leader.tick()
    [assignment] = client.get("/assignments", params={"pipeline": "orders", "status": "active"}).json()
    assert assignment["run_id"] == new["id"] and assignment["version"] == 1
    assert len(client.get("/runs").json()) == 2
    assert client.post("/runs/999/retry").status_code == 404


def test_a_pipeline_declaring_a_parent_is_started_per_parent_record(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    boards = GOOD.replace("name: orders", "name: boards\ndata_type: board")
    posts = CHILD.replace("name: invoice", "name: posts\ndata_type: post\nparent: board\n"
                                           "child: {start: streaming, parameters: {board: .seq}}")
    client.put("/pipelines/boards", json={"yaml": boards})
    client.put("/pipelines/posts", json={"yaml": posts})
    client.post("/pipelines/boards/start")
    leader.tick()
    [start] = client.get("/agents/a/commands").json()
    assert start["payload"]["children"] == [{"pipeline": "posts", "start": "streaming",
                                             "parameters": {"board": ".seq"}}]
    assert start["payload"]["parameters"] is None


# -- real agents --

TICKER = """version: 1
name: ticker
settings: {{batch_size: 5}}
sources:
  numbers: {{type: generate, count: 100000, rate: {rate}}}
transforms:
  tag:
    type: remap
    inputs: [numbers]
    source: .tagged = true
sinks:
  out: {{type: blackhole, inputs: [tag]}}
"""


def sse_events(cp: Any, path: str, count: int,
               until: Callable[[list[tuple[str, dict[str, Any]]]], bool] | None = None
               ) -> list[tuple[str, dict[str, Any]]]:
    """The first ``count`` events of a server-sent event stream, or fewer once ``until(events)`` holds (then the
    client goes away)."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    with cp.http.stream("GET", path, timeout=httpx.Timeout(10, read=10)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[len("data: "):])))
                if len(events) == count or (until is not None and until(events)):
                    break
    return events


def test_live_per_component_stats_from_a_running_agent(stack: Any) -> None:
    cp = stack.control()
    stack.agent(cp, "a1")
    cp.put_pipeline("ticker", TICKER.format(rate=50))
    assert cp.post("/pipelines/ticker/start").status_code == 202

    def flowing() -> Any:
        stats = cp.get("/pipelines/ticker/stats")
        out = stats["components"].get("out")
        return stats if out and out["records_in"] > 0 and out["rate_in"] > 0 else None

    stats = eventually(flowing, timeout=60, what="per-component stats with rates")
    numbers, tag, out = (stats["components"][c] for c in ("numbers", "tag", "out"))
    assert (numbers["kind"], tag["kind"], out["kind"]) == ("source", "transform", "sink")
    assert (numbers["type"], tag["type"], out["type"]) == ("generate", "remap", "blackhole")
    assert numbers["lag"] is None  # the generator cannot tell
    # rate_in > 0 (flowing); how rates are computed is checked with reports of known times above
    assert cp.get("/pipelines")[0]["throughput"] > 0

    events = sse_events(cp, "/pipelines/ticker/live", 3)
    assert [kind for kind, _ in events] == ["stats"] * 3
    times = [data["time"] for _, data in events]
    assert times == sorted(times) and times[-1] - times[0] >= 1.5  # one a second, not faster

    def moved(events: list[tuple[str, dict[str, Any]]]) -> bool:
        counts = [data["components"]["out"]["records_in"] for _, data in events]
        return counts[-1] > counts[0]

    # the live view moves: the agent reports every second (on a loaded machine, later)
    assert moved(sse_events(cp, "/pipelines/ticker/live", 60, until=moved))

    missing = cp.http.get("/pipelines/nope/live")
    assert missing.status_code == 404
    cp.post("/pipelines/ticker/stop")
    eventually(lambda: cp.get("/pipelines")[0]["status"] == "stopped", timeout=30, what="stopped")


PARENT = """version: 1
name: orders
sources:
  numbers: {{type: generate, count: 3}}
transforms:
  invoice_each:
    type: trigger
    inputs: [numbers]
    pipeline: invoice
    parameters: {{order: .seq}}
sinks:
  out: {{type: blackhole, inputs: [invoice_each]}}
"""

INVOICE = """version: 1
name: invoice
sources:
  one: {{type: generate, count: 1}}
sinks:
  out: {{type: file, inputs: [one], path: "{out}/invoice-${{params.order}}.jsonl"}}
"""


def test_a_trigger_stage_runs_child_pipelines_on_agents(stack: Any, tmp_path: Path) -> None:
    cp = stack.control()
    stack.agent(cp, "a1")
    cp.put_pipeline("invoice", INVOICE.format(out=tmp_path))
    cp.put_pipeline("orders", PARENT.format())
    cp.post("/pipelines/orders/start")

    def done() -> Any:
        tree = cp.get("/runs/tree", pipeline="orders")
        if not tree:
            return None
        [root] = tree
        children = root["children"]
        return root if len(children) == 3 and all(c["status"] == "succeeded" for c in children) else None

    root = eventually(done, timeout=90, what="three child runs succeeded")
    assert root["status"] == "succeeded"
    assert sorted(c["parameters"]["order"] for c in root["children"]) == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.glob("invoice-*.jsonl")) == [
        "invoice-0.jsonl", "invoice-1.jsonl", "invoice-2.jsonl"]
    assert cp.get("/pipelines/invoice")["desired"] == "stopped"



def test_a_child_run_the_control_plane_refuses_fails_the_parent_run_with_the_reason(stack: Any) -> None:
    cp = stack.control()
    stack.agent(cp, "a1")
    cp.put_pipeline("orders", PARENT.format())  # its trigger asks for 'invoice', which was never saved
    cp.post("/pipelines/orders/start")

    def ended() -> Any:
        runs = cp.runs("orders")
        return runs[0] if runs and runs[0]["status"] not in ("pending", "running") else None

    run = eventually(ended, timeout=60, what="the parent run ended")
    assert run["status"] == "failed", run
    assert "refused a run of child pipeline 'invoice'" in run["error"], run
    assert "no pipeline named 'invoice'" in run["error"], run

BOARDS = """version: 1
name: boards
data_type: board
sources:
  numbers: {type: generate, count: 2}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""

POSTS = """version: 1
name: posts
data_type: post
parent: board
child: {{parameters: {{board: .seq}}}}
sources:
  one: {{type: generate, count: 1}}
sinks:
  out: {{type: file, inputs: [one], path: "{out}/posts-of-${{params.board}}.jsonl"}}
"""


def test_a_pipeline_declaring_a_parent_runs_once_per_parent_record_after_the_parent(stack: Any,
                                                                                     tmp_path: Path) -> None:
    cp = stack.control()
    stack.agent(cp, "a1")
    cp.put_pipeline("boards", BOARDS)
    cp.put_pipeline("posts", POSTS.format(out=tmp_path))
    cp.post("/pipelines/boards/start")

    def done() -> Any:
        tree = cp.get("/runs/tree", pipeline="boards")
        children = tree[0]["children"] if tree else []
        return tree[0] if len(children) == 2 and all(c["status"] == "succeeded" for c in children) else None

    root = eventually(done, timeout=90, what="a posts run per board")
    assert sorted(c["parameters"]["board"] for c in root["children"]) == [0, 1]
    assert root["status"] == "succeeded" and all(c["pipeline"] == "posts" for c in root["children"])
    assert sorted(p.name for p in tmp_path.glob("posts-of-*.jsonl")) == ["posts-of-0.jsonl", "posts-of-1.jsonl"]
