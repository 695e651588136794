"""``GET /metrics``: the control plane's own metrics in Prometheus text (public, like /health: counts only).

Per instance: whether it leads, its scheduler's lag and tick time, its Redis client; from the database (the
same on every instance): agents by status, assignments (placements) by status, pipelines by desired state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import func, select

from conduix_control.api.deps import Plane, plane
from conduix_control.db.models import Agent, Assignment, Pipeline

router = APIRouter()

_AGENT_STATUSES = ("online", "offline")
_ASSIGNMENT_STATUSES = ("active", "released", "lost", "completed")
_DESIRED = ("running", "stopped", "paused")


@router.get("/metrics", tags=["health"], response_class=Response,
            responses={200: {"description": "Prometheus text exposition format 0.0.4",
                             "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}})
def metrics(p: Plane = Depends(plane)) -> Response:
    """The control plane's metrics for Prometheus (public, like /health: counts only, no names of people or
    secrets): leader, agents, placements, pipelines, the Redis client and the leader's tick."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(_Collector(p))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")


class _Collector:
    def __init__(self, p: Plane) -> None:
        self.p = p

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        p = self.p
        instance = [p.settings.instance]
        leader = p.leader
        family = GaugeMetricFamily("conduix_control_leader", "1 while this instance runs the leader's loop "
                                   "(placement, schedules, offline detection).", labels=["instance"])
        family.add_metric(instance, 1.0 if leader is not None and leader.is_leader else 0.0)
        yield family
        family = GaugeMetricFamily("conduix_control_scheduler_lag_seconds", "How far the leader's loop is behind "
                                   "its tick (0 on time).", labels=["instance"])
        family.add_metric(instance, leader.lag() if leader is not None else 0.0)
        yield family
        family = GaugeMetricFamily("conduix_control_scheduler_tick_seconds", "How long the last tick of the "
                                   "leader's loop took.", labels=["instance"])
        family.add_metric(instance, leader.tick_duration if leader is not None else 0.0)
        yield family
        with p.db.session() as s:
            agents = dict(s.execute(select(Agent.status, func.count()).group_by(Agent.status)).all())
            assignments = dict(s.execute(select(Assignment.status, func.count()).group_by(Assignment.status)).all())
            pipelines = dict(s.execute(select(Pipeline.desired, func.count()).group_by(Pipeline.desired)).all())
        for name, help_text, label, counts, known in (
                ("conduix_control_agents", "Agents by status (online: heartbeating).", "status", agents,
                 _AGENT_STATUSES),
                ("conduix_control_assignments", "Placements of pipeline replicas on agents by status.", "status",
                 assignments, _ASSIGNMENT_STATUSES),
                ("conduix_control_pipelines", "Pipelines by desired state.", "desired", pipelines, _DESIRED)):
            family = GaugeMetricFamily(name, help_text, labels=[label])
            for key in sorted(set(known) | set(counts)):
                family.add_metric([str(key)], float(counts.get(key, 0)))
            yield family
        if p.redis is not None:
            summary = p.redis.metrics.summary()
            connected = GaugeMetricFamily("conduix_control_redis_connected", "1 while the last call reached Redis.",
                                          labels=["instance"])
            connected.add_metric(instance, 1.0 if p.redis.connected else 0.0)
            yield connected
            breaker = GaugeMetricFamily("conduix_control_redis_breaker_open", "1 while the control plane's Redis "
                                        "circuit breaker is open (calls fail at once) or half-open.",
                                        labels=["instance"])
            breaker.add_metric(instance, 1.0 if p.redis.breaker_open else 0.0)
            yield breaker
            failed = CounterMetricFamily("conduix_control_redis_failed_requests", "FailedRequests of the control "
                                         "plane's Redis client.", labels=["instance"])
            failed.add_metric(instance, float(summary["FailedRequests"]))
            yield failed
