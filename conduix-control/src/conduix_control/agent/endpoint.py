"""The agent's HTTP endpoint: ``/metrics``, ``/health``, ``/ready``, ``/status`` (core's ObservabilityServer).

``/metrics`` serves every pipeline the agent runs, as its worker process measured it (the worker sends
its Prometheus text with its stats), labelled ``pipeline``, ``replica`` and ``run`` (the control plane's
run id); then the agent's own: its command channel's mode and its Redis client, whose counters carry the
original README's names (``TotalRequests``... as ``conduix_redis_requests_total``...; in JSON on
``/health`` under those very names).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from conduix.observability.exposition import MergedCollector, Part
from conduix_control.agent.channel import Mode

if TYPE_CHECKING:
    from conduix_control.agent.agent import Agent

__all__ = ["REDIS_COUNTERS", "AgentBackend"]

#: Prometheus name (``_total`` added) -> the original README's name, for the Redis client's counters
REDIS_COUNTERS = {
    "conduix_redis_requests": "TotalRequests",
    "conduix_redis_successful_requests": "SuccessfulRequests",
    "conduix_redis_failed_requests": "FailedRequests",
    "conduix_redis_cache_hits": "CacheHits",
    "conduix_redis_cache_misses": "CacheMisses",
    "conduix_redis_reconnect_attempts": "ReconnectAttempts",
    "conduix_redis_circuit_breaker_trips": "CircuitBreakerTrips",
}


class AgentBackend:
    """What the agent's endpoint serves (the backend interface of ``conduix.observability.server``)."""

    def __init__(self, agent: Agent) -> None:
        from prometheus_client import CollectorRegistry

        self.agent = agent
        self.started = time.time()
        self.registry = CollectorRegistry()
        self.registry.register(MergedCollector(self._pipelines, self._own))

    # -- /metrics ------------------------------------------------------------------------------
    def _pipelines(self) -> Iterator[Part]:
        for worker in list(self.agent.workers.values()):
            if worker.alive and worker.metrics:
                payload = worker.payload
                yield worker.metrics, {"pipeline": str(payload.get("pipeline")),
                                       "replica": str(payload.get("replica", 0)), "run": str(worker.run_id)}

    def _own(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        agent = self.agent
        labels = ["agent"]
        mode = GaugeMetricFamily("conduix_agent_mode", "1 for the command channel's current mode (redis: pub/sub "
                                 "wake-ups; hybrid: Redis suspect, REST polled too; rest: REST only).",
                                 labels=["agent", "mode"])
        current = self.mode()
        for m in Mode:
            mode.add_metric([agent.id, m.value], 1.0 if m.value == current else 0.0)
        yield mode
        running = GaugeMetricFamily("conduix_agent_pipelines", "Pipelines (assignments) this agent runs now.",
                                    labels=labels)
        running.add_metric([agent.id], float(sum(1 for w in list(agent.workers.values()) if w.alive)))
        yield running
        registered = GaugeMetricFamily("conduix_agent_registered", "1 once the control plane accepted this agent.",
                                       labels=labels)
        registered.add_metric([agent.id], 1.0 if agent.keys is not None else 0.0)
        yield registered
        redis = agent.redis
        if redis is None:
            return
        connected = GaugeMetricFamily("conduix_redis_connected", "1 while the last call reached Redis.",
                                      labels=labels)
        connected.add_metric([agent.id], 1.0 if redis.connected else 0.0)
        yield connected
        breaker = GaugeMetricFamily("conduix_redis_breaker_open", "1 while the Redis circuit breaker is open "
                                    "(calls fail at once) or half-open.", labels=labels)
        breaker.add_metric([agent.id], 1.0 if redis.breaker_open else 0.0)
        yield breaker
        summary = redis.metrics.summary()
        for name, original in REDIS_COUNTERS.items():
            family = CounterMetricFamily(name, f"{original}: the Redis client's {original} (README).", labels=labels)
            family.add_metric([agent.id], float(summary[original]))
            yield family
        latency = GaugeMetricFamily("conduix_redis_average_latency_ms", "AverageLatencyMs: mean latency of the "
                                    "Redis client's successful calls (README).", labels=labels)
        latency.add_metric([agent.id], float(summary["AverageLatencyMs"]))
        yield latency

    def metrics_text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    # -- JSON ----------------------------------------------------------------------------------------
    def mode(self) -> str:
        channel = self.agent.channel
        return (channel.mode if channel is not None else Mode.REST).value

    def health(self) -> dict[str, Any]:
        """Liveness, and what an operator asks first: mode, Redis, pipelines."""
        redis = self.agent.redis
        return {"status": "alive", "agent": self.agent.id, "mode": self.mode(),
                "registered": self.agent.keys is not None, "uptime": round(time.time() - self.started, 1),
                "pipelines": sum(1 for w in list(self.agent.workers.values()) if w.alive),
                "redis": None if redis is None else {"connected": bool(redis.connected),
                                                     "breaker_open": redis.breaker_open, **redis.metrics.summary()}}

    def ready(self) -> tuple[bool, list[str]]:
        """Ready once registered with the control plane (it then gets assignments), until it stops."""
        reasons = []
        if self.agent.keys is None:
            reasons.append("not registered with the control plane yet")
        if self.agent.stopping:
            reasons.append("stopping")
        return not reasons, reasons

    def status(self) -> dict[str, Any]:
        pipelines = [{"pipeline": w.payload.get("pipeline"), "replica": w.payload.get("replica"),
                      "run": w.run_id, "assignment": w.assignment_id, "state": "stopping" if w.stopping else "running",
                      **w.stats} for w in list(self.agent.workers.values()) if w.alive]
        return {**self.health(), "pipelines": pipelines}

    def tap_target(self, pipeline: str | None, component: str) -> tuple[None, list[str]]:
        return None, []  # records stay in the worker processes
