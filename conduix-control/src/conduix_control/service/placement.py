"""Placement: desired pipelines onto online agents; offline agents' pipelines onto others.

Run by the leader only, once per tick. An assignment is one replica of one pipeline on one agent,
with a fencing token from the pipeline's counter (``lease_seq``); each placement makes a run and a
``start`` command carrying the YAML and token. Child runs (pipelines of pipelines, see
:mod:`conduix_control.service.runs`) are placed once each, on one-shot assignments.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conduix_control.db.models import Agent, Assignment, Pipeline, Run
from conduix_control.errors import RedisUnavailableError
from conduix_control.fencing import raise_token
from conduix_control.keys import Keys
from conduix_control.redis_client import ResilientClient
from conduix_control.service.commands import CommandBus
from conduix_control.service.pipelines import version_yaml
from conduix_control.service.runs import declared_children, one_shot_ids

__all__ = ["checkpoint_id", "ingest_redis_heartbeats", "mark_offline", "place", "publish_tokens", "start_payload"]

logger = logging.getLogger(__name__)

LIVE = ("active", "paused")
CRASH_LOOP_FAILURES = 5  # failed runs of one pipeline within CRASH_LOOP_WINDOW stop re-placing it
CRASH_LOOP_WINDOW = 60.0


def checkpoint_id(pipeline: str, replica: int) -> str:
    """The id a replica checkpoints under: the pipeline's name, ``name.rN`` for replicas after the first."""
    return pipeline if replica == 0 else f"{pipeline}.r{replica}"


def start_payload(session: Session, assignment: Assignment) -> dict[str, Any]:
    """What a ``start`` command carries; a child run's also has its ``parameters`` and its own checkpoint id."""
    run = session.get(Run, assignment.run_id) if assignment.run_id else None
    child = run is not None and run.parent_run_id is not None
    return {"assignment_id": assignment.id, "run_id": assignment.run_id, "pipeline": assignment.pipeline,
            "replica": assignment.replica,
            "checkpoint_id": f"{assignment.pipeline}.run{assignment.run_id}" if child
            else checkpoint_id(assignment.pipeline, assignment.replica),
            "version": assignment.version, "token": assignment.token,
            "yaml": version_yaml(session, assignment.pipeline, assignment.version),
            "parameters": (run.parameters or {}) if child and run is not None else None,
            "children": declared_children(session, assignment.pipeline, assignment.version)}


def new_run(session: Session, assignment: Assignment, run: Run | None = None) -> Run:
    """A run for ``assignment`` (or ``run``, pending, made by a retry); sets ``assignment.run_id``.

    Runs of a replica are not chained by ``parent_run_id``: that is for pipelines of pipelines.
    """
    now = time.time()
    if run is None:
        run = Run(pipeline=assignment.pipeline, replica=assignment.replica, records_in=0, records_out=0, errors=0,
                  started_at=now)
        session.add(run)
    run.agent_id, run.assignment_id, run.version = assignment.agent_id, assignment.id, assignment.version
    run.token, run.status, run.started_at, run.updated_at = assignment.token, "pending", now, now
    session.flush()
    assignment.run_id = run.id
    return run


MAX_HEARTBEAT_BYTES = 64 * 1024  # a heartbeat is a few hundred bytes; Redis is not trusted with more
MODES = ("redis", "hybrid", "rest")


def _beat(raw: Any) -> dict[str, Any] | None:
    """A heartbeat read from Redis, or None when it is not one (too large, not JSON, wrong shape)."""
    if len(raw) > MAX_HEARTBEAT_BYTES:
        return None
    try:
        beat = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(beat, dict) or beat.get("mode") not in MODES or not isinstance(beat.get("info", {}), dict):
        return None
    return beat


def ingest_redis_heartbeats(session: Session, redis: ResilientClient | None, seen: dict[str, bytes],
                            keys: Keys) -> None:
    """Agents in Redis mode heartbeat into a key with a TTL; a changed value counts as a heartbeat now."""
    if redis is None or not redis.available:
        return
    agents = session.scalars(select(Agent)).all()
    try:
        values = redis.mget([keys.heartbeat(a.id) for a in agents])
    except RedisUnavailableError:
        return
    now = time.time()
    for agent, raw in zip(agents, values):
        if raw is None or seen.get(agent.id) == raw:
            continue
        seen[agent.id] = raw
        beat = _beat(raw)
        if beat is None:
            logger.warning("agent %s: ignoring a malformed heartbeat in Redis (%d bytes)", agent.id, len(raw))
            continue
        agent.last_heartbeat = now
        agent.mode = beat["mode"]
        agent.info = {**(agent.info or {}), **beat.get("info", {})}
        if agent.status != "online":
            logger.info("agent %s is back online (Redis heartbeat)", agent.id)
        agent.status = "online"
    session.commit()


def mark_offline(session: Session, bus: CommandBus, heartbeat_timeout: float) -> list[str]:
    """Agents silent for longer than the timeout go offline; their assignments and runs are lost."""
    cutoff = time.time() - heartbeat_timeout
    gone = session.scalars(select(Agent).where(Agent.status == "online", Agent.last_heartbeat < cutoff)).all()
    for agent in gone:
        agent.status = "offline"
        logger.warning("agent %s missed heartbeats for %.0f s: offline; reassigning its pipelines",
                       agent.id, heartbeat_timeout)
        for assignment in session.scalars(select(Assignment).where(Assignment.agent_id == agent.id,
                                                                    Assignment.status.in_(LIVE))).all():
            assignment.status = "lost"
            assignment.updated_at = time.time()
            run = session.get(Run, assignment.run_id) if assignment.run_id else None
            if run is not None and run.ended_at is None:
                run.status, run.error, run.ended_at = "lost", f"agent {agent.id} went offline", time.time()
        bus.cancel_open(session, agent.id)
    session.commit()
    return [a.id for a in gone]


def _crash_looping(session: Session, pipeline: Pipeline) -> bool:
    """Too many failed runs lately; failures before the user's last action (start, apply) do not count."""
    since = max(time.time() - CRASH_LOOP_WINDOW, pipeline.updated_at)
    failures = session.scalar(select(func.count(Run.id)).where(
        Run.pipeline == pipeline.name, Run.status == "failed", Run.ended_at > since, Run.parent_run_id.is_(None)))
    return (failures or 0) >= CRASH_LOOP_FAILURES


def place(session: Session, bus: CommandBus, redis: ResilientClient | None) -> list[Assignment]:
    """Give every running pipeline its replicas on distinct online agents with capacity and matching labels."""
    agents = {a.id: a for a in session.scalars(select(Agent).where(Agent.status == "online")).all()}
    live = session.scalars(select(Assignment).where(Assignment.status.in_(LIVE))).all()
    one_shot = one_shot_ids(session)
    load = {agent_id: 0 for agent_id in agents}
    for a in live:
        if a.agent_id in load:
            load[a.agent_id] += 1
    made: list[Assignment] = []
    for pipeline in session.scalars(select(Pipeline).where(Pipeline.desired == "running")).all():
        mine = [a for a in live if a.pipeline == pipeline.name and a.id not in one_shot]
        taken = {a.replica for a in mine}
        missing = [r for r in range(pipeline.replicas) if r not in taken]
        if not missing:
            continue
        if _crash_looping(session, pipeline):
            pipeline.desired = "failed"
            logger.error("pipeline %s failed %d times within %.0f s: not placing it again until started",
                         pipeline.name, CRASH_LOOP_FAILURES, CRASH_LOOP_WINDOW)
            continue
        used = {a.agent_id for a in mine}
        for replica in missing:
            candidates = [a for a in agents.values() if a.id not in used and load[a.id] < a.capacity
                          and all(a.labels.get(k) == v for k, v in (pipeline.labels or {}).items())]
            if not candidates:
                logger.info("pipeline %s replica %d: no online agent with capacity and labels %s",
                            pipeline.name, replica, pipeline.labels)
                break
            agent = min(candidates, key=lambda a: (load[a.id] / max(a.capacity, 1), a.id))
            retried = session.scalar(select(Run).where(  # a retry waiting for its replica
                Run.pipeline == pipeline.name, Run.replica == replica, Run.status == "pending",
                Run.assignment_id.is_(None), Run.parent_run_id.is_(None)).order_by(Run.id.desc()).limit(1))
            pipeline.lease_seq += 1
            now = time.time()
            assignment = Assignment(pipeline=pipeline.name, replica=replica, agent_id=agent.id,
                                    version=retried.version if retried else pipeline.current_version,
                                    token=pipeline.lease_seq, status="active", created_at=now, updated_at=now)
            session.add(assignment)
            session.flush()
            new_run(session, assignment, retried)
            _push_token(redis, assignment, bus.keys)
            bus.create(session, agent.id, "start", pipeline=pipeline.name, payload=start_payload(session, assignment))
            used.add(agent.id)
            load[agent.id] += 1
            made.append(assignment)
            logger.info("placed %s replica %d on %s (token %d)", pipeline.name, replica, agent.id, assignment.token)
    made += _place_child_runs(session, bus, agents, load)
    session.commit()
    return made


def _place_child_runs(session: Session, bus: CommandBus, agents: dict[str, Agent],
                      load: dict[str, int]) -> list[Assignment]:
    """Pending child runs, oldest first, each once on the least loaded agent with capacity and labels."""
    made: list[Assignment] = []
    for run in session.scalars(select(Run).where(Run.status == "pending", Run.assignment_id.is_(None),
                                                 Run.parent_run_id.is_not(None)).order_by(Run.id).limit(500)).all():
        pipeline = session.get(Pipeline, run.pipeline)
        if pipeline is None:
            run.status, run.error, run.ended_at = "failed", f"pipeline {run.pipeline!r} was deleted", time.time()
            continue
        candidates = [a for a in agents.values() if load[a.id] < a.capacity
                      and all(a.labels.get(k) == v for k, v in (pipeline.labels or {}).items())]
        if not candidates:
            break  # later runs wait for capacity too (oldest first)
        agent = min(candidates, key=lambda a: (load[a.id] / max(a.capacity, 1), a.id))
        pipeline.lease_seq += 1
        now = time.time()
        assignment = Assignment(pipeline=run.pipeline, replica=run.replica, agent_id=agent.id, version=run.version,
                                token=pipeline.lease_seq, status="active", created_at=now, updated_at=now)
        session.add(assignment)
        session.flush()
        new_run(session, assignment, run)
        bus.create(session, agent.id, "start", pipeline=run.pipeline, payload=start_payload(session, assignment))
        load[agent.id] += 1
        made.append(assignment)
        logger.info("placed child run %d of %s (parent run %s) on %s", run.id, run.pipeline, run.parent_run_id,
                    agent.id)
    return made


def _push_token(redis: ResilientClient | None, assignment: Assignment, keys: Keys) -> None:
    if redis is None:
        return
    try:
        raise_token(redis, checkpoint_id(assignment.pipeline, assignment.replica), assignment.token, keys.prefix)
    except RedisUnavailableError:
        pass  # published again every tick by publish_tokens


def publish_tokens(session: Session, redis: ResilientClient | None, keys: Keys) -> None:
    """Make Redis hold every live assignment's token (it may have restarted empty)."""
    if redis is None or not redis.available:
        return
    one_shot = one_shot_ids(session)
    for assignment in session.scalars(select(Assignment).where(Assignment.status.in_(LIVE))).all():
        if assignment.id in one_shot:
            continue  # a child run keeps no checkpoint: no token to publish
        try:
            raise_token(redis, checkpoint_id(assignment.pipeline, assignment.replica), assignment.token, keys.prefix)
        except RedisUnavailableError:
            return
