"""Timing settings and limits of the control plane; agents receive their timings from it when they register."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ControlSettings", "instance_id"]


def instance_id() -> str:
    """A name for this process that is unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class ControlSettings:
    """Every field can be overridden by ``CONDUIX_CONTROL_<FIELD>`` (upper case) or a CLI option."""

    heartbeat_timeout: float = 30.0  #: an agent silent this long is offline; its pipelines are reassigned
    heartbeat_interval: float = 5.0  #: how often agents heartbeat
    agent_lease: float = 20.0  #: an agent cut off this long stops its pipelines (keep < heartbeat_timeout)
    poll_interval: float = 5.0  #: REST polling period of agents in REST/hybrid mode
    tick: float = 1.0  #: period of the leader's loop (schedules, placement, offline detection, resends)
    leader_ttl: float = 10.0  #: the scheduler leader lease; another instance takes over after it expires
    ack_timeout: float = 10.0  #: a command sent but not acknowledged this long is sent again
    misfire_window: float = 300.0  #: schedule ticks missed (leader change, downtime) this recently still fire
    max_body_bytes: int = 2 * 1024 * 1024  #: larger request bodies are answered 413 (pipelines: 1 MiB of YAML)
    audit_retention_days: float = 365.0  #: the leader deletes audit events older than this (0: keeps them all)
    deployment: str | None = None  #: prefix of Redis keys and channels (default: a name stored in the database)
    instance: str = field(default_factory=instance_id)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ControlSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CONDUIX_CONTROL_{f.name.upper()}")
            if raw is not None and f.name not in ("instance", "deployment"):
                values[f.name] = int(raw) if f.type == "int" else float(raw)
            elif raw and f.name == "deployment":
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def for_agent(self) -> dict[str, float]:
        """The timings an agent must follow, sent in the registration answer."""
        return {"heartbeat_interval": self.heartbeat_interval, "heartbeat_timeout": self.heartbeat_timeout,
                "lease": self.agent_lease, "poll_interval": self.poll_interval}
