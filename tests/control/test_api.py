"""The REST API and the leader's placement logic, in-process against a real SQLite database (no Redis)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from conduix_control.api import create_app
from conduix_control.auth import AuthSettings, audit
from conduix_control.db.models import AuditEvent
from conduix_control.scheduler.loop import LeaderLoop
from conduix_control.settings import ControlSettings
from tests.control.conftest import eventually

GOOD = """version: 1
name: orders
sources:
  numbers: {type: generate, count: 10}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration("postgresql")),
             pytest.param("mariadb", marks=pytest.mark.integration("mariadb"))]


def database_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'c.db'}"
    return str(request.getfixturevalue("postgres_url" if kind == "postgresql" else "mariadb_url"))


def admin_api(request: pytest.FixtureRequest, tmp_path: Path,
              settings: ControlSettings) -> Iterator[tuple[TestClient, LeaderLoop]]:
    """The API on the database of ``request.param``, signed in as the local admin, and a leader loop to tick."""
    app = create_app(database_url(request, request.param, tmp_path), settings=settings, run_leader=False,
                     auth=AuthSettings(admin_password="admin-password", state_dir=tmp_path))
    plane = app.state.plane
    with TestClient(app) as client:
        assert client.post("/auth/login", json={"username": "admin", "password": "admin-password"}).status_code == 200
        yield client, LeaderLoop(plane.db, settings, None, plane.bus)


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, LeaderLoop]]:
    """Agents stay online for 30 s without a heartbeat: a test on a busy machine does not lose them by accident."""
    yield from admin_api(request, tmp_path, ControlSettings(heartbeat_timeout=30.0, tick=0.1))


def test_pipeline_yaml_is_validated_on_save_with_locations(api: Any) -> None:
    client, _ = api
    bad = GOOD.replace("count: 10", "cuont: 10")
    response = client.put("/pipelines/orders", json={"yaml": bad})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["line"], error["column"], error["path"]) == (4, 29, "sources.numbers.cuont")
    assert "count" in error["hint"]
    assert client.get("/pipelines/orders").status_code == 404  # nothing was stored

    mismatch = client.put("/pipelines/other", json={"yaml": GOOD})
    assert mismatch.status_code == 422 and "orders" in mismatch.json()["detail"]


def test_versions_and_rollback(api: Any) -> None:
    client, _ = api
    assert client.put("/pipelines/orders", json={"yaml": GOOD}).status_code == 201
    again = client.put("/pipelines/orders", json={"yaml": GOOD})
    assert again.status_code == 200 and again.json()["changed"] is False
    v2 = GOOD.replace("count: 10", "count: 20")
    assert client.put("/pipelines/orders", json={"yaml": v2}).json()["current_version"] == 2
    rolled = client.post("/pipelines/orders/rollback", json={"version": 1}).json()
    assert rolled["version"] == 3
    assert client.get("/pipelines/orders").json()["yaml"] == GOOD
    assert [v["version"] for v in client.get("/pipelines/orders/versions").json()] == [1, 2, 3]
    assert client.post("/pipelines/orders/rollback", json={"version": 9}).status_code == 404


def test_schedules_preview_next_runs_in_their_time_zone(api: Any) -> None:
    client, _ = api
    client.put("/pipelines/orders", json={"yaml": GOOD})
    bad = client.post("/schedules", json={"pipeline": "orders", "cron": "61 * * * *"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "cron"
    assert client.post("/schedules", json={"pipeline": "orders", "cron": "0 3 * * *",
                                           "timezone": "Mars/Olympus"}).status_code == 422
    row = client.post("/schedules", json={"pipeline": "orders", "cron": "30 2 * * *",
                                          "timezone": "Asia/Kolkata"}).json()
    assert len(row["next_runs"]) == 5
    assert all(t.endswith("T02:30:00+05:30") for t in row["next_runs"])
    assert row["next_runs"] == sorted(row["next_runs"])
    assert len(client.get(f"/schedules/{row['id']}", params={"count": 8}).json()["next_runs"]) == 8


def register(client: TestClient, agent_id: str, capacity: int, **labels: str) -> None:
    response = client.post("/agents/register", json={"id": agent_id, "host": "h", "labels": labels,
                                                     "capacity": capacity})
    assert response.status_code == 200
    assert response.json()["settings"]["heartbeat_timeout"] == 30.0  # the fixture's


def live(client: TestClient, pipeline: str) -> dict[int, str]:
    rows = client.get("/assignments", params={"pipeline": pipeline, "status": "active"}).json()
    return {r["replica"]: r["agent_id"] for r in rows}


def test_placement_replicas_labels_capacity_and_reassignment(api: Any) -> None:
    client, leader = api
    client.put("/pipelines/orders", json={"yaml": GOOD, "replicas": 2, "labels": {"zone": "eu"}})
    register(client, "a", 1, zone="eu")
    register(client, "b", 2, zone="eu")
    register(client, "c", 2, zone="eu")
    register(client, "us", 9, zone="us")
    assert client.post("/pipelines/orders/start").status_code == 202
    leader.tick()
    placed = live(client, "orders")
    assert sorted(placed) == [0, 1] and len(set(placed.values())) == 2 and "us" not in placed.values()

    # without Redis the start commands wait for REST polling; applying one acknowledges it
    first = placed[0]
    [cmd] = client.get(f"/agents/{first}/commands").json()
    assert cmd["kind"] == "start" and cmd["state"] == "pending" and cmd["payload"]["yaml"] == GOOD
    assert client.post(f"/commands/{cmd['id']}/ack", json={"via": "rest"}).json()["state"] == "acked"
    assert client.get(f"/agents/{first}/commands").json() == []

    # the agent holding replica 0 goes silent: offline, its run lost, the replica moves elsewhere
    old = client.get("/assignments", params={"pipeline": "orders"}).json()
    old0 = next(a for a in old if a["replica"] == 0)

    # from here on the leader takes an agent silent for 3 s for offline (with it from the start, registering four
    # agents on a loaded machine took long enough for the first ones to go offline before placement)
    leader.settings = dataclasses.replace(leader.settings, heartbeat_timeout=3.0)

    def first_offline() -> bool:  # the others keep sending heartbeats; the first's 3 s timeout runs out
        for agent in {"a", "b", "c", "us"} - {first}:
            client.post(f"/agents/{agent}/heartbeat", json={"mode": "rest"})
        leader.tick()
        return client.get(f"/agents/{first}").json()["status"] == "offline"

    eventually(first_offline, timeout=20, what=f"agent {first} offline after its heartbeat timeout")
    assert client.get(f"/runs/{old0['run_id']}").json()["status"] == "lost"
    moved = live(client, "orders")
    assert moved[0] not in (first, moved[1], "us")
    new0 = next(a for a in client.get("/assignments", params={"pipeline": "orders", "status": "active"}).json()
                if a["replica"] == 0)
    assert new0["token"] > old0["token"]
    replacement = client.get(f"/runs/{new0['run_id']}").json()
    assert replacement["replica"] == 0 and replacement["id"] > old0["run_id"]
    assert replacement["parent_run_id"] is None  # parents are for pipelines of pipelines, not restarts


def test_finished_runs_complete_the_pipeline_and_commands_answer_202_without_redis(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.post("/pipelines/orders/start")
    leader.tick()
    [assignment] = client.get("/assignments", params={"pipeline": "orders"}).json()
    run_id = assignment["run_id"]
    client.post(f"/runs/{run_id}/report", json={"status": "running", "records_in": 5})
    restart = client.post("/pipelines/orders/restart")
    assert restart.status_code == 202 and restart.json()["commands"][0]["state"] == "pending"
    new_run = client.get("/assignments", params={"pipeline": "orders"}).json()[0]["run_id"]
    assert new_run != run_id and client.get(f"/runs/{new_run}").json()["parent_run_id"] is None
    report = client.post(f"/runs/{new_run}/report", json={"status": "succeeded", "records_in": 10,
                                                         "records_out": 10}).json()
    assert report["status"] == "succeeded" and report["ended_at"] is not None
    assert client.get("/pipelines/orders").json()["desired"] == "completed"
    leader.tick()  # a completed pipeline is not placed again
    assert live(client, "orders") == {}
    assert client.post("/pipelines/nope/start").status_code == 404


def test_an_agent_registering_again_loses_what_its_previous_process_ran(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.post("/pipelines/orders/start")
    leader.tick()
    [before] = client.get("/assignments", params={"pipeline": "orders"}).json()
    register(client, "a", 2)  # the agent process restarted: it runs nothing now
    assert client.get(f"/runs/{before['run_id']}").json()["status"] == "lost"
    leader.tick()
    [after] = client.get("/assignments", params={"pipeline": "orders", "status": "active"}).json()
    assert after["id"] != before["id"] and after["agent_id"] == "a" and after["token"] > before["token"]
    assert after["run_id"] > before["run_id"]


@pytest.mark.parametrize("kind", DATABASES)
def test_leader_lease_moves_only_after_it_expires(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> None:
    from conduix_control.db import Database
    from conduix_control.scheduler.leader import LeaderLease

    db = Database(database_url(request, kind, tmp_path)).open()
    first, second = LeaderLease("leader", "one", ttl=2.0), LeaderLease("leader", "two", ttl=2.0)
    with db.session() as s:
        assert first.acquire(s) and first.token == 1
        assert not second.acquire(s)
        assert first.acquire(s)  # renewing keeps it
        eventually(lambda: second.acquire(s), timeout=20, what="the lease taken over once it expired")
        assert second.token == 2
        assert not first.acquire(s) and first.token is None
        second.release(s)
        assert first.acquire(s) and first.token == 3
    db.close()


def test_a_crash_looping_pipeline_is_replaced_until_it_is_given_up(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.post("/pipelines/orders/start")
    run_ids = []
    for _ in range(5):
        leader.tick()
        [assignment] = client.get("/assignments", params={"pipeline": "orders", "status": "active"}).json()
        run_ids.append(assignment["run_id"])
        client.post(f"/runs/{assignment['run_id']}/report", json={"status": "failed", "error": "boom"})
    leader.tick()
    assert live(client, "orders") == {}
    assert client.get("/pipelines/orders").json()["desired"] == "failed"
    runs = client.get("/runs", params={"pipeline": "orders"}).json()
    assert [r["id"] for r in reversed(runs)] == run_ids
    assert all(r["status"] == "failed" and r["error"] == "boom" for r in runs)
    assert [r["parent_run_id"] for r in runs] == [None] * 5
    client.post("/pipelines/orders/start")  # starting again is the user's decision
    leader.tick()
    assert client.get("/pipelines/orders").json()["desired"] == "running"
    assert list(live(client, "orders")) == [0]


def test_a_paused_run_shows_why_keeps_its_replica_and_runs_again_when_resumed(api: Any) -> None:
    client, leader = api
    register(client, "a", 2)
    client.put("/pipelines/orders", json={"yaml": GOOD})
    client.post("/pipelines/orders/start")
    leader.tick()
    [assignment] = client.get("/assignments", params={"pipeline": "orders"}).json()
    run_id = assignment["run_id"]
    client.post(f"/runs/{run_id}/report", json={"status": "running", "records_in": 5})
    why = "supervisor root gave up after 3 restarts within 60 s; resuming by itself at 10:00:00 UTC"
    client.post(f"/runs/{run_id}/report", json={"status": "paused", "error": why})
    run = client.get(f"/runs/{run_id}").json()
    assert run["status"] == "paused" and run["error"] == why and run["ended_at"] is None
    assert client.get("/pipelines/orders").json()["status"] == "paused"
    leader.tick()  # the replica stays where it is: the agent resumes it by itself
    assert live(client, "orders") == {0: "a"}
    assert client.get("/assignments", params={"pipeline": "orders"}).json()[0]["run_id"] == run_id
    client.post(f"/runs/{run_id}/report", json={"status": "running", "records_in": 9})
    run = client.get(f"/runs/{run_id}").json()
    assert run["status"] == "running" and run["error"] is None and run["records_in"] == 9
    assert client.get("/pipelines/orders").json()["status"] == "running"


def test_the_leader_deletes_audit_events_past_their_retention(api: Any) -> None:
    client, leader = api
    assert client.put("/pipelines/orders", json={"yaml": GOOD}).status_code in (200, 201)  # a recent event
    year = 365 * 86400
    with leader.db.session() as s:
        for actor, age in (("ancient", year + 3600), ("last-month", 30 * 86400)):
            audit.record(s, actor=actor, action="PUT /pipelines/{name}", target="/pipelines/orders")
            s.flush()
            s.execute(update(AuditEvent).where(AuditEvent.actor == actor).values(at=time.time() - age))
        s.commit()
    before = {e["actor"] for e in client.get("/audit", params={"limit": 1000}).json()}
    assert {"ancient", "last-month", "admin"} <= before

    leader.tick()  # its first tick as leader prunes: audit_retention_days is 365 by default
    after = {e["actor"] for e in client.get("/audit", params={"limit": 1000}).json()}
    assert after == before - {"ancient"}


def test_audit_retention_zero_keeps_every_event(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'c.db'}", settings=ControlSettings(audit_retention_days=0),
                     run_leader=False, auth=AuthSettings(admin_password="admin-password", state_dir=tmp_path))
    plane = app.state.plane
    with plane.db.session() as s:
        audit.record(s, actor="ancient", action="login")
        s.flush()
        s.execute(update(AuditEvent).values(at=0.0))
        s.commit()
    LeaderLoop(plane.db, plane.settings, None, plane.bus).tick()
    with plane.db.session() as s:
        assert [e.actor for e in audit.events(s)] == ["ancient"]
