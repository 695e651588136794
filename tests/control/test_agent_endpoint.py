"""An agent's endpoint (/metrics, /health, /ready, /status) with a real control plane, Redis and pipeline."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.control.conftest import RedisServer, eventually, free_port, generate_pipeline

pytestmark = [pytest.mark.integration("redis"), pytest.mark.slow]


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of a /metrics answer (which must parse as Prometheus text)."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float | None:
    found = [v for got, v in samples.get(name, []) if all(got.get(k) == want for k, want in labels.items())]
    return sum(found) if found else None


def test_agent_serves_its_pipelines_redis_client_and_mode(stack: Any, redis_server: RedisServer,
                                                          tmp_path: Path) -> None:
    cp = stack.control(redis_url=redis_server.url)
    port = free_port()
    stack.agent(cp, "m1", redis_server.url, "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{url}/ready").json() == {"ready": True, "reasons": []}
    eventually(lambda: cp.agent("m1")["mode"] == "redis", what="agent in Redis mode")
    cp.put_pipeline("ticks", generate_pipeline("ticks", tmp_path / "out.jsonl", count=1_000_000, rate=50))
    assert cp.post("/pipelines/ticks/start").status_code == 202
    run = eventually(lambda: (runs := cp.runs("ticks")) and runs[0]["status"] == "running" and runs[0],
                     what="pipeline running")

    labels = {"pipeline": "ticks", "replica": "0", "run": str(run["id"])}
    samples = eventually(lambda: (s := scrape(url)) and (value(s, "conduix_records_out_total", component="out",
                                                               **labels) or 0) > 0 and s,
                         what="the pipeline's records on the agent's /metrics")
    # the pipeline's metrics as its worker measured them: histograms and checkpoints too
    assert (value(samples, "conduix_batch_duration_seconds_count", component="out", **labels) or 0) > 0
    assert value(samples, "conduix_up", **labels) == 1
    eventually(lambda: (value(scrape(url), "conduix_checkpoint_writes_total", **labels) or 0) > 0,
               what="checkpoint writes counted")
    # the agent's own: mode, Redis state and the README's counters
    assert value(samples, "conduix_agent_mode", agent="m1", mode="redis") == 1
    assert value(samples, "conduix_agent_mode", agent="m1", mode="rest") == 0
    assert value(samples, "conduix_agent_pipelines", agent="m1") == 1
    assert value(samples, "conduix_redis_connected", agent="m1") == 1
    assert value(samples, "conduix_redis_breaker_open", agent="m1") == 0
    assert (value(samples, "conduix_redis_requests_total", agent="m1") or 0) > 0
    assert value(samples, "conduix_redis_circuit_breaker_trips_total", agent="m1") == 0
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "alive" and health["mode"] == "redis" and health["pipelines"] == 1
    assert health["redis"]["connected"] is True and health["redis"]["TotalRequests"] > 0
    assert set(health["redis"]) >= {"TotalRequests", "SuccessfulRequests", "FailedRequests", "CacheHits",
                                    "CacheMisses", "ReconnectAttempts", "CircuitBreakerTrips", "AverageLatencyMs"}
    status = httpx.get(f"{url}/status").json()
    assert [(p["pipeline"], p["run"]) for p in status["pipelines"]] == [("ticks", run["id"])]
    # the control plane's own /metrics: it leads, one agent online, one placement, one pipeline to run
    control = scrape(cp.url)
    assert value(control, "conduix_control_leader") == 1
    assert value(control, "conduix_control_agents", status="online") == 1
    assert value(control, "conduix_control_assignments", status="active") == 1
    assert value(control, "conduix_control_pipelines", desired="running") == 1
    assert value(control, "conduix_control_redis_connected") == 1
    assert (value(control, "conduix_control_scheduler_tick_seconds") or 0) > 0

    # Redis goes away: disconnected, breaker open, REST mode; the pipeline keeps being measured
    redis_server.kill()
    lost = eventually(lambda: (s := scrape(url)) and value(s, "conduix_redis_connected", agent="m1") == 0
                      and value(s, "conduix_redis_breaker_open", agent="m1") == 1
                      and value(s, "conduix_agent_mode", agent="m1", mode="rest") == 1 and s,
                      timeout=40, what="Redis loss on /metrics")
    assert (value(lost, "conduix_redis_circuit_breaker_trips_total", agent="m1") or 0) >= 1
    assert (value(lost, "conduix_redis_failed_requests_total", agent="m1") or 0) >= 1
    assert httpx.get(f"{url}/health").json()["redis"]["connected"] is False
    redis_server.start()
    eventually(lambda: (s := scrape(url)) and value(s, "conduix_redis_connected", agent="m1") == 1
               and value(s, "conduix_agent_mode", agent="m1", mode="redis") == 1,
               timeout=40, what="Redis back on /metrics")


def test_agent_refuses_to_start_on_a_taken_metrics_port(stack: Any, cli: Any, tmp_path: Path) -> None:
    cp = stack.control()
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = cli("agent", "start", "--control-url", cp.url, "--agent-id", "busy", "--state-dir",
                     str(tmp_path / "busy"), "--metrics-port", str(port), timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in result.stderr
    assert "CONDUIX_AGENT_METRICS_PORT" in result.stderr


def test_a_control_plane_without_agents_still_says_whether_its_redis_answers(stack: Any,
                                                                              redis_server: RedisServer) -> None:
    """With no agent the control plane makes no Redis call of its own; its loop pings, so the gauges behind
    ConduixRedisDisconnected and ConduixCircuitBreakerOpen are true, not 'never tried' (which read as 0)."""
    cp = stack.control(redis_url=redis_server.url)
    eventually(lambda: value(scrape(cp.url), "conduix_control_redis_connected") == 1, timeout=30,
               what="the control plane's Redis client connected with no agent")
    redis_server.kill()
    lost = eventually(lambda: (s := scrape(cp.url)) and value(s, "conduix_control_redis_connected") == 0
                      and value(s, "conduix_control_redis_breaker_open") == 1 and s, timeout=60,
                      what="Redis loss on the control plane's /metrics")
    assert (value(lost, "conduix_control_redis_failed_requests_total") or 0) > 0
