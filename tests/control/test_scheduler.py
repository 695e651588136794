"""Scheduler: a cron schedule fires once per tick across a leader failover (two control planes, one database)."""

from __future__ import annotations

import itertools
import signal
from typing import Any

import pytest

from tests.control.conftest import eventually

GOOD = """version: 1
name: nightly
sources:
  numbers: {type: generate, count: 1}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""


@pytest.mark.integration("postgresql")
@pytest.mark.slow
def test_cron_fires_once_per_tick_across_a_leader_failover(stack: Any, postgres_url: str) -> None:
    first = stack.control(postgres_url, name="control-1")
    eventually(lambda: first.get("/health")["leader"], what="first instance leads")
    second = stack.control(postgres_url, name="control-2")  # migrations already done: a no-op here
    first.put_pipeline("nightly", GOOD)
    schedule = first.post("/schedules", {"pipeline": "nightly", "cron": "* * * * * */2"}).json()
    fires_url = f"/schedules/{schedule['id']}/fires"
    eventually(lambda: len(second.get(fires_url)) >= 3, what="three ticks fired")

    leader, follower = (first, second) if first.get("/health")["leader"] else (second, first)
    leader_id, follower_id = leader.get("/health")["instance"], follower.get("/health")["instance"]
    assert {f["fired_by"] for f in follower.get(fires_url)} == {leader_id}, "only the leader fires"
    leader.signal_group(signal.SIGKILL)
    eventually(lambda: follower.get("/health")["leader"], timeout=30, what="the other instance takes over")
    eventually(lambda: sum(f["fired_by"] == follower_id for f in follower.get(fires_url)) >= 3,
               what="ticks fired by the new leader")

    fires = follower.get(fires_url)
    times = [f["fire_time"] for f in fires]
    assert len(times) == len(set(times)), "a tick fired twice"
    assert all(t % 2 == 0 for t in times)
    assert [b - a for a, b in itertools.pairwise(times)] == [2] * (len(times) - 1), \
        f"ticks missed during the failover: {times}"
    assert {f["fired_by"] for f in fires} == {leader_id, follower_id}
    assert follower.get("/pipelines/nightly")["desired"] == "running", "a fired tick starts the pipeline"
