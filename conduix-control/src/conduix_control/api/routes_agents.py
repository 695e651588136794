"""/agents: registration, REST heartbeats, command polling and acknowledgements; /commands."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control import views
from conduix_control.api.deps import Plane, plane, session, to_dict
from conduix_control.api.schemas import AckIn, AgentIn, CommandIn, HeartbeatIn, Limit
from conduix_control.auth.identity import Identity, current_identity, require_agent
from conduix_control.db.models import Agent, Assignment, Command
from conduix_control.errors import ControlError, NotFoundError
from conduix_control.service.actions import ACTIONS, heartbeat, live_assignments, register_agent
from conduix_control.service.commands import CommandBus, command_dict

router = APIRouter(tags=["agents"])


def _agent(s: Session, agent: Agent, now: float) -> dict[str, Any]:
    """An agent with ``heartbeat_age`` (seconds) and what it runs (``assignments``)."""
    rows = s.scalars(select(Assignment).where(Assignment.agent_id == agent.id,
                                              Assignment.status.in_(("active", "paused"))).order_by(Assignment.id))
    return {**to_dict(agent), "heartbeat_age": round(max(0.0, now - agent.last_heartbeat), 3),
            "assignments": [{"id": a.id, "pipeline": a.pipeline, "replica": a.replica, "run_id": a.run_id,
                             "status": a.status} for a in rows.all()]}


@router.get("/agents", response_model=list[views.Agent])
def list_agents(s: Session = Depends(session)) -> list[dict[str, Any]]:
    now = time.time()
    return [_agent(s, a, now) for a in s.scalars(select(Agent).order_by(Agent.id)).all()]


@router.get("/agents/{agent_id}", response_model=views.Agent)
def show_agent(agent_id: str, s: Session = Depends(session)) -> dict[str, Any]:
    agent = s.get(Agent, agent_id)
    if agent is None:
        raise NotFoundError(f"no agent {agent_id!r}")
    return _agent(s, agent, time.time())


@router.post("/agents/register")
def register(body: AgentIn, s: Session = Depends(session), p: Plane = Depends(plane),
             identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    """Register (or re-register) an agent; the answer carries the timings it must follow."""
    require_agent(identity, body.id, f"agent {body.id!r}")
    agent = register_agent(s, body.id, host=body.host, labels=body.labels, capacity=body.capacity, mode=body.mode)
    return {"agent": to_dict(agent), "settings": p.settings.for_agent(), "deployment": p.keys.deployment,
            "assignments": live_assignments(s, body.id)}


@router.post("/agents/{agent_id}/heartbeat")
def post_heartbeat(agent_id: str, body: HeartbeatIn, s: Session = Depends(session)) -> dict[str, Any]:
    return {"assignments": heartbeat(s, agent_id, mode=body.mode, info=body.info)}


@router.get("/agents/{agent_id}/assignments")
def agent_assignments(agent_id: str, s: Session = Depends(session)) -> list[dict[str, Any]]:
    rows = s.scalars(select(Assignment).where(Assignment.agent_id == agent_id, Assignment.status == "active"))
    return [to_dict(a) for a in rows.all()]


@router.get("/agents/{agent_id}/commands")
def poll_commands(agent_id: str, s: Session = Depends(session)) -> list[dict[str, Any]]:
    """Commands the agent has not acknowledged yet (REST polling in REST and hybrid modes)."""
    return [command_dict(c) for c in CommandBus.open_for(s, agent_id)]


@router.post("/agents/{agent_id}/commands")
def send_command(agent_id: str, body: CommandIn, response: Response, s: Session = Depends(session),
                 p: Plane = Depends(plane)) -> dict[str, Any]:
    """Send a raw command to one agent: 200 when published over Redis, 202 when stored for later delivery."""
    if s.get(Agent, agent_id) is None:
        raise NotFoundError(f"no agent {agent_id!r}")
    if body.kind not in ACTIONS:
        raise ControlError(f"unknown command kind {body.kind!r}; use one of {', '.join(ACTIONS)}")
    cmd = p.bus.create(s, agent_id, body.kind, pipeline=body.pipeline, payload=body.payload)
    s.commit()
    response.status_code = 200 if cmd.state == "sent" else 202
    return command_dict(cmd)


@router.get("/commands")
def list_commands(agent: str | None = None, state: str | None = None, limit: Limit = 200,
                  s: Session = Depends(session)) -> list[dict[str, Any]]:
    query = select(Command).order_by(Command.created_at.desc()).limit(limit)
    if agent:
        query = query.where(Command.agent_id == agent)
    if state:
        query = query.where(Command.state == state)
    return [command_dict(c) for c in s.scalars(query).all()]


@router.get("/commands/{command_id}")
def show_command(command_id: str, s: Session = Depends(session)) -> dict[str, Any]:
    cmd = s.get(Command, command_id)
    if cmd is None:
        raise NotFoundError(f"no command {command_id!r}")
    return command_dict(cmd)


@router.post("/commands/{command_id}/ack")
def ack_command(command_id: str, body: AckIn, s: Session = Depends(session),
                identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    cmd = s.get(Command, command_id)
    require_agent(identity, cmd.agent_id if cmd is not None else None, f"command {command_id!r}")
    return command_dict(CommandBus.ack(s, command_id, ok=body.ok, via=body.via, result=body.result))
