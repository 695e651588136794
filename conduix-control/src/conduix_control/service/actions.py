"""Pipeline actions (start, stop, pause, resume, restart) and what agents tell the control plane."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control.db.models import Agent, Assignment, Command, Run
from conduix_control.errors import ControlError, NotFoundError
from conduix_control.service.commands import CommandBus
from conduix_control.service.pipelines import get_pipeline
from conduix_control.service.placement import new_run, start_payload
from conduix_control.service.runs import one_shot_ids
from conduix_control.service.stats import store_report

__all__ = ["ACTIONS", "TERMINAL", "heartbeat", "pipeline_action", "register_agent", "report_run"]

logger = logging.getLogger(__name__)

ACTIONS = ("start", "stop", "pause", "resume", "restart")
TERMINAL = ("succeeded", "failed", "stopped", "lost", "fenced", "lease_expired")


def _assignments(session: Session, pipeline: str, *states: str) -> list[Assignment]:
    return list(session.scalars(select(Assignment).where(Assignment.pipeline == pipeline,
                                                         Assignment.status.in_(states))).all())


def _agent_assignments(session: Session, agent_id: str, *states: str) -> list[Assignment]:
    return list(session.scalars(select(Assignment).where(Assignment.agent_id == agent_id,
                                                         Assignment.status.in_(states))).all())


def pipeline_action(session: Session, bus: CommandBus, name: str, action: str) -> list[Command]:
    """Apply ``action`` to pipeline ``name``; returns the commands it sent to agents.

    ``start`` only sets the desired state: the leader places the replicas on its next tick.
    """
    if action not in ACTIONS:
        raise ControlError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    pipeline = get_pipeline(session, name)
    one_shot = one_shot_ids(session)  # child runs: stopped by stop and pause, never resumed or restarted
    commands: list[Command] = []
    if action == "start":
        pipeline.desired = "running"
    elif action in ("stop", "pause"):
        pipeline.desired = "stopped" if action == "stop" else "paused"
        for a in _assignments(session, name, "active", "paused"):
            was_active = a.status == "active"
            a.status = "released" if action == "stop" or a.id in one_shot else "paused"
            a.updated_at = time.time()
            if was_active:
                commands.append(bus.create(session, a.agent_id, "stop" if a.id in one_shot else action,
                                           pipeline=name, payload={"assignment_id": a.id, "run_id": a.run_id}))
        for run in session.scalars(select(Run).where(Run.pipeline == name, Run.status == "pending",
                                                     Run.assignment_id.is_(None))).all():
            run.status, run.error, run.ended_at = "stopped", f"pipeline {action} before it was placed", time.time()
    elif action == "resume":
        pipeline.desired = "running"
        for a in _assignments(session, name, "paused"):
            a.status = "active"
            a.version = pipeline.current_version
            new_run(session, a)
            commands.append(bus.create(session, a.agent_id, "resume", pipeline=name, payload=start_payload(session, a)))
    else:  # restart: same agents, the current version, new runs
        for a in _assignments(session, name, "active"):
            if a.id in one_shot:
                continue
            a.version = pipeline.current_version
            new_run(session, a)
            commands.append(bus.create(session, a.agent_id, "restart", pipeline=name,
                                       payload=start_payload(session, a)))
    pipeline.updated_at = time.time()
    session.commit()
    return commands


def register_agent(session: Session, agent_id: str, *, host: str, labels: dict[str, str], capacity: int,
                   mode: str) -> Agent:
    now = time.time()
    agent = session.get(Agent, agent_id)
    if agent is None:
        agent = Agent(id=agent_id, host=host, labels=labels, capacity=capacity, mode=mode, status="online",
                      last_heartbeat=now, registered_at=now, info={})
        session.add(agent)
    else:
        agent.host, agent.labels, agent.capacity, agent.mode = host, labels, capacity, mode
        agent.status, agent.last_heartbeat = "online", now
        # registering means a new agent process: whatever the previous one ran is gone
        for a in _agent_assignments(session, agent_id, "active"):
            a.status, a.updated_at = "lost", now
            run = session.get(Run, a.run_id) if a.run_id else None
            if run is not None and run.ended_at is None:
                run.status, run.error, run.ended_at = "lost", f"agent {agent_id} restarted", now
    session.commit()
    logger.info("agent %s registered (host %s, capacity %d, labels %s)", agent_id, host, capacity, labels)
    return agent


def heartbeat(session: Session, agent_id: str, *, mode: str, info: dict[str, Any]) -> list[int]:
    """Record a REST heartbeat; returns the ids of the agent's live assignments."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFoundError(f"agent {agent_id!r} is not registered; it registers again on its own")
    agent.last_heartbeat = time.time()
    agent.mode = mode
    agent.info = {**(agent.info or {}), **info}
    if agent.status != "online":
        logger.info("agent %s is back online", agent_id)
    agent.status = "online"
    session.commit()
    return live_assignments(session, agent_id)


def live_assignments(session: Session, agent_id: str) -> list[int]:
    return list(session.scalars(select(Assignment.id).where(Assignment.agent_id == agent_id,
                                                            Assignment.status == "active")).all())


def report_run(session: Session, run_id: int, data: dict[str, Any]) -> Run:
    """An agent's report on a run: status, counts, error. A finished run frees or completes its assignment."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}")
    if run.ended_at is not None and run.status in TERMINAL and data.get("status") not in TERMINAL:
        session.commit()
        return run  # a late stats report after the end changes nothing
    for field in ("records_in", "records_out", "errors"):
        if data.get(field) is not None:
            setattr(run, field, int(data[field]))
    status = data.get("status")
    if data.get("error"):
        run.error = str(data["error"])
    elif status == "running" and run.status == "paused":
        run.error = None  # resumed: the reason it was paused is over
    now = time.time()
    if data.get("components") is not None:
        store_report(run, data["components"], now, data.get("time"))
    if status and (run.status not in TERMINAL or status in ("fenced", "lease_expired")):
        run.status = status
    run.updated_at = now
    if status in TERMINAL:
        run.ended_at = run.ended_at or now
        assignment = session.get(Assignment, run.assignment_id) if run.assignment_id else None
        if assignment is not None and assignment.status == "active" and assignment.run_id == run.id:
            if status == "succeeded":
                assignment.status = "completed"
            elif status in ("failed", "stopped", "fenced", "lease_expired"):
                assignment.status = "released"  # the leader places the replica again
            assignment.updated_at = now
            if status == "succeeded" and run.parent_run_id is None:
                _complete_if_done(session, run.pipeline)
    session.commit()
    return run


def _complete_if_done(session: Session, name: str) -> None:
    pipeline = get_pipeline(session, name)
    done = set(session.scalars(select(Assignment.replica).join(Run, Run.id == Assignment.run_id).where(
        Assignment.pipeline == name, Assignment.status == "completed", Run.parent_run_id.is_(None))).all())
    if done >= set(range(pipeline.replicas)) and pipeline.desired == "running":
        pipeline.desired = "completed"
