"""ResilientClient against a real Redis that we kill and restart; fenced checkpoint writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from conduix_control.errors import RedisUnavailableError, StaleLeaseError
from conduix_control.fencing import FencedRedisCheckpointStore, lease_key, raise_token
from conduix_control.redis_client import ResilientClient, ResilientSettings
from tests.control.conftest import RedisServer, eventually

pytestmark = pytest.mark.integration("redis")

FAST = ResilientSettings(failure_threshold=3, success_threshold=2, open_timeout="1s", max_backoff="300ms",
                         socket_timeout=0.5, command_retries=1)


def checkpoint(position: int) -> dict[str, object]:
    now = time.time()
    return {"pipeline": "orders", "timestamp": now, "sources": {"s": {"timestamp": now, "position": position}}}


def test_a_checkpoint_write_with_a_stale_token_is_rejected(redis_server: RedisServer) -> None:
    old = FencedRedisCheckpointStore(redis_server.url, token=1)
    new = FencedRedisCheckpointStore(redis_server.url, token=2)
    old.save("orders", checkpoint(10))
    assert old.load("orders")["sources"]["s"]["position"] == 10
    assert raise_token(redis_server.client(), "orders", 2) == 2
    assert raise_token(redis_server.client(), "orders", 1) == 2  # tokens never go back
    with pytest.raises(StaleLeaseError, match="token 1 is stale"):
        old.save("orders", checkpoint(11))
    assert old.rejected == 1
    new.save("orders", checkpoint(20))
    with pytest.raises(StaleLeaseError):
        old.save("orders", checkpoint(99))
    stored = json.loads(redis_server.client().get("pipeline:orders:checkpoint"))
    assert stored["sources"]["s"]["position"] == 20 and stored["lease_token"] == 2
    # a writer newer than what Redis knows (Redis restarted empty) raises the stored token
    redis_server.client().delete(lease_key("orders"))
    FencedRedisCheckpointStore(redis_server.url, token=3).save("orders", checkpoint(30))
    assert int(redis_server.client().get(lease_key("orders"))) == 3
    with pytest.raises(StaleLeaseError):
        new.save("orders", checkpoint(21))


def test_breaker_opens_serves_cached_reads_and_closes_after_recovery(redis_server: RedisServer) -> None:
    client = ResilientClient(redis_server.url, FAST)
    client.set("k", "v1")
    assert client.get("k") == b"v1"
    redis_server.kill()
    for _ in range(FAST.failure_threshold):
        assert client.get("k") == b"v1"  # served from the local cache
    assert not client.available  # ... and the breaker is open now
    pool = client.redis.connection_pool
    connections: list[object] = []
    get_connection = pool.get_connection
    pool.get_connection = lambda *a, **kw: connections.append(a) or get_connection(*a, **kw)  # type: ignore[method-assign]
    with pytest.raises(RedisUnavailableError, match="circuit breaker open"):
        client.get("never-read")
    assert connections == [], "an open breaker answers without touching the network"
    pool.get_connection = get_connection  # type: ignore[method-assign]
    metrics = client.metrics.as_dict()
    assert metrics["cache_hits"] >= 3 and metrics["cache_misses"] == 1 and metrics["breaker_trips"] == 1
    assert metrics["failures"] >= 4

    redis_server.start()
    eventually(lambda: client.ping() and client.ping() and client.available, timeout=15, what="breaker closed")
    client.set("k", "v2")
    assert client.get("k") == b"v2"
    client.close()


def test_subscription_resubscribes_after_redis_restarts(redis_server: RedisServer) -> None:
    client = ResilientClient(redis_server.url, FAST)
    got: list[bytes] = []
    arrived = threading.Event()

    def handler(data: bytes) -> None:
        got.append(data)
        arrived.set()

    sub = client.subscribe("chan", handler)
    try:
        assert sub.connected.wait(5)
        assert redis_server.client().publish("chan", "one") == 1
        assert arrived.wait(5)
        redis_server.kill()
        eventually(lambda: not sub.connected.is_set(), timeout=10, what="subscription noticed the outage")
        redis_server.start()
        assert sub.connected.wait(15), "re-subscribed on its own"
        arrived.clear()
        eventually(lambda: redis_server.client().publish("chan", "two") == 1, timeout=10, what="subscriber back")
        assert arrived.wait(5)
        assert got == [b"one", b"two"]
        assert client.metrics.as_dict()["reconnects"] >= 1
    finally:
        sub.stop()
        client.close()


def test_commands_stored_while_redis_is_down_are_resent_when_it_is_back(redis_server: RedisServer,
                                                                        tmp_path: Path) -> None:
    from conduix_control.db import Database
    from conduix_control.keys import Keys
    from conduix_control.service.actions import register_agent
    from conduix_control.service.commands import WAKE, CommandBus

    db = Database(f"sqlite:///{tmp_path / 'c.db'}").open()
    client = ResilientClient(redis_server.url, FAST)
    keys = Keys("t")
    bus = CommandBus(client, keys)
    redis_server.kill()
    with db.session() as s:
        register_agent(s, "a1", host="h", labels={}, capacity=1, mode="redis")
        cmd = bus.create(s, "a1", "stop", pipeline="p", payload={"assignment_id": 1})
        s.commit()
        assert cmd.state == "pending"
        assert [c.id for c in bus.open_for(s, "a1")] == [cmd.id]

    redis_server.start()
    listener = redis_server.client().pubsub()
    listener.subscribe(keys.wake_channel("a1"))
    eventually(lambda: listener.get_message(timeout=0.1), what="subscribed")  # the subscribe confirmation
    with db.session() as s:
        eventually(lambda: bus.resend(s, ack_timeout=60, online_agents={"a1"}) == 1, timeout=15, what="resent")
    message = eventually(lambda: listener.get_message(timeout=0.5), what="agent woken again")
    assert message["data"] == WAKE.encode()  # Redis carries no command: the agent fetches it over REST
    with db.session() as s:
        assert bus.resend(s, ack_timeout=60, online_agents={"a1"}) == 0  # sent, not yet due again
        assert CommandBus.ack(s, cmd.id, ok=True, via="redis", result="applied").state == "acked"
        assert CommandBus.open_for(s, "a1") == []
    listener.close()
    client.close()
    db.close()
