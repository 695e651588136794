"""Commands to agents: stored first, then the agent is woken over Redis pub/sub, or polls over REST.

Redis carries no command: the message on an agent's wake channel only makes it fetch its open commands
from ``GET /agents/{id}/commands`` with its own credential, so whoever can publish on Redis can at most
make agents ask. A command's ``state`` goes ``pending`` (stored; Redis down or nobody subscribed) ->
``sent`` (a subscribed agent was woken) -> ``acked`` / ``failed`` (the agent applied it, or could not).
Pending commands, and sent ones not acknowledged within ``ack_timeout``, wake their agent again from the
leader's loop; agents keep the ids they applied, so a command fetched twice applies once.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from conduix_control.db.models import Command
from conduix_control.errors import NotFoundError, RedisUnavailableError
from conduix_control.keys import Keys
from conduix_control.redis_client import ResilientClient

__all__ = ["WAKE", "CommandBus", "command_dict"]

logger = logging.getLogger(__name__)

OPEN_STATES = ("pending", "sent")
WAKE = "wake"  #: the whole message on a wake channel: it means nothing but "ask for your commands"


def command_dict(cmd: Command) -> dict[str, Any]:
    return {"id": cmd.id, "agent_id": cmd.agent_id, "pipeline": cmd.pipeline, "kind": cmd.kind,
            "payload": cmd.payload, "state": cmd.state, "attempts": cmd.attempts, "via": cmd.via,
            "result": cmd.result, "created_at": cmd.created_at, "sent_at": cmd.sent_at, "acked_at": cmd.acked_at}


class CommandBus:
    """Creates, publishes, resends and acknowledges commands."""

    def __init__(self, redis: ResilientClient | None, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def _publish(self, cmd: Command) -> bool:
        """Wake the command's agent; True when a subscriber got the wake-up (the agent fetches the command)."""
        if self.redis is None:
            return False
        try:
            receivers = self.redis.publish(self.keys.wake_channel(cmd.agent_id), WAKE)
        except RedisUnavailableError as exc:
            logger.info("command %s stays pending: %s", cmd.id, exc)
            return False
        cmd.attempts += 1
        if receivers > 0:
            cmd.state = "sent"
            cmd.sent_at = time.time()
            return True
        return False

    def create(self, session: Session, agent_id: str, kind: str, *, pipeline: str | None = None,
               payload: dict[str, Any] | None = None) -> Command:
        """Store a command and try to publish it; the caller commits. ``state`` says whether it went out."""
        cmd = Command(id=str(uuid.uuid4()), agent_id=agent_id, pipeline=pipeline, kind=kind, payload=payload or {},
                      state="pending", attempts=0, created_at=time.time())
        session.add(cmd)
        session.flush()
        self._publish(cmd)
        return cmd

    def resend(self, session: Session, *, ack_timeout: float, online_agents: set[str]) -> int:
        """Wake the agents of pending commands, and of sent ones not acknowledged in time; returns how many."""
        if self.redis is None or not self.redis.available:
            return 0
        cutoff = time.time() - ack_timeout
        rows = session.scalars(select(Command).where(
            or_(Command.state == "pending", (Command.state == "sent") & (Command.sent_at < cutoff))
        ).order_by(Command.created_at)).all()
        sent = 0
        for cmd in rows:
            if cmd.agent_id in online_agents and self._publish(cmd):
                sent += 1
        session.commit()
        if sent:
            logger.info("woke agents again for %d command(s) over Redis", sent)
        return sent

    @staticmethod
    def open_for(session: Session, agent_id: str) -> list[Command]:
        """Commands the agent has not acknowledged yet, oldest first (what REST polling returns)."""
        return list(session.scalars(select(Command).where(Command.agent_id == agent_id,
                                                          Command.state.in_(OPEN_STATES))
                                    .order_by(Command.created_at)).all())

    @staticmethod
    def ack(session: Session, command_id: str, *, ok: bool, via: str | None, result: str | None) -> Command:
        cmd = session.get(Command, command_id)
        if cmd is None:
            raise NotFoundError(f"no command {command_id!r}")
        if cmd.state in OPEN_STATES:
            cmd.state = "acked" if ok else "failed"
            cmd.via = via
            cmd.result = result
            cmd.acked_at = time.time()
        session.commit()
        return cmd

    @staticmethod
    def cancel_open(session: Session, agent_id: str) -> None:
        """An agent marked offline will not apply what it was sent: cancel its open commands."""
        for cmd in CommandBus.open_for(session, agent_id):
            cmd.state = "cancelled"
            cmd.result = "agent went offline"
