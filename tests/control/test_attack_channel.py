"""Issue 17, item 2: whoever can write to Redis cannot make an agent run anything.

A real control plane, agents and a redis-server of the test's own. Commands are published on the agents'
channels (the old channel name and the new wake channel) by someone who is not the control plane: nothing
runs. Two deployments sharing one Redis, with the same agent id and pipeline name, never deliver to each
other nor fence each other. Junk written to an agent's heartbeat key does not stop the leader.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from conduix_control.db.models import Agent
from tests.control.conftest import RedisServer, eventually, generate_pipeline, read_seqs

pytestmark = [pytest.mark.integration("redis"), pytest.mark.slow]


def forged_start(marker: Path, agent_id: str) -> str:
    """What an attacker publishes: a complete start command with a pipeline writing to ``marker``."""
    yaml_text = generate_pipeline("forged", marker, count=5, rate=100)
    return json.dumps({"id": str(uuid.uuid4()), "kind": "start", "pipeline": "forged",
                       "payload": {"assignment_id": 999, "run_id": 999, "pipeline": "forged", "replica": 0,
                                   "checkpoint_id": "forged", "version": 1, "token": 10**9, "yaml": yaml_text,
                                   "parameters": None, "children": []}})


def deployments(redis_server: RedisServer, agent_id: str) -> set[str]:
    """The deployment names agents learnt when they registered, as their heartbeat keys show them."""
    keys = [k.decode() for k in redis_server.client().keys(f"conduix:*:agent:{agent_id}:heartbeat")]
    return {k.split(":")[1] for k in keys}


def test_a_command_published_on_redis_runs_nothing(stack: Any, redis_server: RedisServer, tmp_path: Path) -> None:
    cp = stack.control(redis_url=redis_server.url)
    agent = stack.agent(cp, "a1", redis_server.url)
    eventually(lambda: cp.agent("a1")["mode"] == "redis", what="agent in Redis mode")
    [name] = deployments(redis_server, "a1")
    r = redis_server.client()
    marker = tmp_path / "forged.jsonl"
    channels = ["conduix:agent:a1:commands", f"conduix:{name}:agent:a1:wake", f"conduix:{name}:agent:a1:commands"]
    receivers = {channel: r.publish(channel, forged_start(marker, "a1")) for channel in channels}
    assert receivers[f"conduix:{name}:agent:a1:wake"] == 1  # the agent listens there, and was woken...
    r.publish(f"conduix:{name}:agent:a1:wake", b"\xff\x00 not even json")
    # ...so it asked the control plane for its commands (authenticated REST) and found none
    eventually(lambda: cp.agent("a1")["info"]["channel"]["wakeups"] >= 2, what="wake-ups counted")

    # a real command still goes through at once: the wake-up makes the agent fetch it
    cp.put_pipeline("real", generate_pipeline("real", tmp_path / "real.jsonl", count=5, rate=100))
    assert cp.post("/pipelines/real/start").status_code == 202
    run = eventually(lambda: (runs := cp.runs("real")) and runs[0]["status"] == "succeeded" and runs[0],
                     what="the real pipeline ran")
    start = next(c for c in cp.get("/commands", agent="a1") if c["pipeline"] == "real")
    assert (start["state"], start["via"]) == ("acked", "redis"), start
    assert read_seqs(tmp_path / "real.jsonl") == [0, 1, 2, 3, 4] and run["records_out"] == 5

    assert not marker.exists(), "a command published on Redis ran a pipeline"
    assert "forged" not in agent.log()
    assert cp.runs("forged") == [] and all(c["pipeline"] != "forged" for c in cp.get("/commands"))


def test_two_deployments_sharing_one_redis_never_meet(stack: Any, redis_server: RedisServer,
                                                      tmp_path: Path) -> None:
    east = stack.control(f"sqlite:///{tmp_path / 'east.db'}", redis_server.url, name="east")
    west = stack.control(f"sqlite:///{tmp_path / 'west.db'}", redis_server.url, name="west",
                         extra_env={"CONDUIX_CONTROL_DEPLOYMENT": "west"})
    east_agent = stack.agent(east, "a1", redis_server.url)  # same agent id (the host name, by default)
    west_agent = stack.agent(west, "a1", redis_server.url)
    for cp in (east, west):
        eventually(lambda cp=cp: cp.agent("a1")["mode"] == "redis", what="agent in Redis mode")
    names = deployments(redis_server, "a1")
    assert "west" in names and len(names) == 2

    outputs = {"east": tmp_path / "east.jsonl", "west": tmp_path / "west.jsonl"}
    for label, cp in (("east", east), ("west", west)):  # the same pipeline name in both
        cp.put_pipeline("orders", generate_pipeline("orders", outputs[label], count=1_000_000, rate=50))
        assert cp.post("/pipelines/orders/start").status_code == 202
    for label, cp in (("east", east), ("west", west)):
        eventually(lambda cp=cp: (runs := cp.runs("orders")) and runs[0]["status"] == "running",
                   what=f"{label} running")
        eventually(lambda label=label: len(read_seqs(outputs[label])) > 20, what=f"{label} writing")
        restart = cp.post("/pipelines/orders/restart").json()["commands"][0]
        acked = eventually(lambda cp=cp, c=restart: (x := cp.get(f"/commands/{c['id']}"))["state"] == "acked" and x,
                           what=f"{label} restart acknowledged")
        assert acked["via"] == "redis"
        assert cp.agent("a1")["status"] == "online"

    # each deployment fences its own pipeline only: tokens and checkpoints under its own prefix
    keys = {k.decode() for k in redis_server.client().keys("*")}
    west_keys = {k for k in keys if k.startswith("conduix:west:")}
    assert {"conduix:west:pipeline:orders:lease", "conduix:west:pipeline:orders:checkpoint"} <= west_keys
    east_name = (names - {"west"}).pop()
    assert f"conduix:{east_name}:pipeline:orders:lease" in keys
    assert not [k for k in keys if not k.startswith(("conduix:west:", f"conduix:{east_name}:"))], keys
    for agent in (east_agent, west_agent):  # one start and one restart each, nothing from the other side
        assert agent.log().count("applying command") == 2, agent.log()
        assert "fenced" not in agent.log() and "rejected" not in agent.log()


def test_junk_in_a_heartbeat_key_is_ignored(redis_server: RedisServer, tmp_path: Path) -> None:
    from conduix_control.db import Database
    from conduix_control.keys import Keys
    from conduix_control.redis_client import ResilientClient
    from conduix_control.service.actions import register_agent
    from conduix_control.service.placement import ingest_redis_heartbeats

    db = Database(f"sqlite:///{tmp_path / 'c.db'}").open()
    client = ResilientClient(redis_server.url)
    keys = Keys("t")
    with db.session() as s:
        register_agent(s, "a1", host="h", labels={}, capacity=1, mode="rest")
    seen: dict[str, bytes] = {}
    for junk in (b"{not json", b"[1, 2]", json.dumps({"mode": "x" * 10}).encode(), b"{" + b" " * 100_000 + b"}",
                 json.dumps({"mode": "redis", "info": "not a mapping"}).encode()):
        redis_server.client().set(keys.heartbeat("a1"), junk)
        with db.session() as s:
            ingest_redis_heartbeats(s, client, seen, keys)  # no exception: the leader's loop goes on
            assert s.get(Agent, "a1").mode == "rest"
    redis_server.client().set(keys.heartbeat("a1"), json.dumps({"mode": "redis", "info": {"runs": {}}}))
    with db.session() as s:
        ingest_redis_heartbeats(s, client, seen, keys)
        assert s.get(Agent, "a1").mode == "redis"
    client.close()
    db.close()


def test_the_documented_redis_acls_are_enough(stack: Any, tmp_path: Path) -> None:
    """docs/security.md's ACL users, limited to the deployment's prefix, run a deployment end to end."""
    import re

    docs = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    users = re.findall(r"^user conduix-\S+ .*$", docs, flags=re.M)
    assert len(users) == 2
    acl = tmp_path / "users.acl"
    acl.write_text("user default on nopass ~* &* +@all\n" + "\n".join(
        u.replace("NAME", "acl").replace(">CONTROL_PASSWORD", ">cpw").replace(">AGENT_PASSWORD", ">apw")
        for u in users) + "\n")
    server = RedisServer(tmp_path / "redis-acl", "--aclfile", str(acl)).start()
    try:
        url = f"redis://conduix-control:cpw@127.0.0.1:{server.port}/0"
        cp = stack.control(redis_url=url, extra_env={"CONDUIX_CONTROL_DEPLOYMENT": "acl"})
        stack.agent(cp, "a1", f"redis://conduix-agent:apw@127.0.0.1:{server.port}/0")
        eventually(lambda: cp.agent("a1")["mode"] == "redis", what="agent in Redis mode")
        cp.put_pipeline("orders", generate_pipeline("orders", tmp_path / "out.jsonl", count=30, rate=20))
        assert cp.post("/pipelines/orders/start").status_code == 202
        eventually(lambda: (runs := cp.runs("orders")) and runs[0]["status"] == "succeeded", what="run succeeded")
        assert read_seqs(tmp_path / "out.jsonl") == list(range(30))
        start = cp.get("/commands", agent="a1")[0]
        assert (start["state"], start["via"]) == ("acked", "redis")
        assert server.client().get("conduix:acl:pipeline:orders:checkpoint") is not None  # fenced checkpoints
        assert cp.agent("a1")["info"]["redis"]["FailedRequests"] == 0  # the original README's names
    finally:
        server.kill()
