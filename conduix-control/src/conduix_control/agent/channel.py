"""The agent's command channel: Redis pub/sub wake-ups, REST polling, and the modes in between.

Commands always come from the control plane's REST API (``GET /agents/{id}/commands``, with the agent's
own credential). Redis only says *when* to ask: any message on the agent's wake channel makes it fetch
its commands at once, so a message published by someone else runs nothing.

::

    REDIS --(Redis check fails / subscription lost)--> HYBRID --(hybrid_failures checks fail)--> REST
      ^                                                 |  ^                                       |
      +------(stable_checks good checks in a row)-------+  +--(a recovery check succeeds)----------+

- REDIS: a wake-up over pub/sub makes the agent fetch its commands; no polling otherwise.
- HYBRID: Redis is suspect: keep the subscription *and* poll REST every ``poll_interval``;
  check Redis every ``check_interval``; go back to REDIS only after it was fine for
  ``stable_checks`` checks in a row (and the subscription is connected again).
- REST: poll every ``poll_interval``; check Redis every ``recovery_interval``; a good check
  leads to HYBRID, never straight to REDIS (gradual recovery).

Commands can arrive twice (pub/sub and polling, or a resend); the agent applies each id once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from conduix_control.agent.client import ControlClient
from conduix_control.errors import ControlError
from conduix_control.keys import Keys
from conduix_control.redis_client import ResilientClient, Subscription

__all__ = ["ChannelSettings", "CommandChannel", "Mode"]

logger = logging.getLogger(__name__)


class Mode(str, Enum):
    REDIS = "redis"
    HYBRID = "hybrid"
    REST = "rest"


@dataclass
class ChannelSettings:
    poll_interval: float = 5.0  #: REST polling period in HYBRID and REST modes
    check_interval: float = 1.0  #: Redis health checks in REDIS and HYBRID modes
    recovery_interval: float = 5.0  #: Redis health checks in REST mode
    hybrid_failures: int = 3  #: failed checks in a row that take HYBRID to REST
    stable_checks: int = 3  #: good checks in a row that take HYBRID back to REDIS


class CommandChannel:
    """Delivers commands to ``deliver(command, via)`` whichever way they can come."""

    def __init__(self, agent_id: str, redis: ResilientClient | None, client: ControlClient,
                 deliver: Callable[[dict[str, Any], str], None], settings: ChannelSettings | None = None, *,
                 keys: Keys) -> None:
        self.agent_id = agent_id
        self.keys = keys
        self.redis = redis
        self.client = client
        self.deliver = deliver
        self.settings = settings or ChannelSettings()
        self.mode = Mode.REST
        self.transitions: list[tuple[float, Mode]] = []
        self._subscription: Subscription | None = None
        self._good = 0
        self._bad = 0
        self._last_poll = 0.0
        self._last_check = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.wakeups = 0  #: wake-up messages received (each makes at most one fetch, coalesced)
        self.fetches = 0  #: REST fetches of commands (polls and wake-ups)
        self._thread = threading.Thread(target=self._loop, name="conduix-channel", daemon=True)

    def start(self) -> CommandChannel:
        if self.redis is not None:
            self._subscription = self.redis.subscribe(self.keys.wake_channel(self.agent_id), self._on_message)
            self._subscription.connected.wait(2.0)
            if self._healthy():
                self._enter(Mode.REDIS)
        if self.mode is not Mode.REDIS:
            logger.warning("agent %s: Redis unavailable at start; receiving commands by REST polling", self.agent_id)
        self._poll()  # anything sent before we subscribed
        self._thread.start()
        return self

    def _on_message(self, data: bytes) -> None:
        """A wake-up: whatever it says, the only thing it does is make the loop fetch commands over REST."""
        self.wakeups += 1
        self._wake.set()

    def _healthy(self) -> bool:
        if self.redis is None or not self.redis.ping():
            return False
        return self._subscription is not None and self._subscription.connected.is_set()

    def _enter(self, mode: Mode) -> None:
        if mode is not self.mode:
            logger.warning("agent %s: command channel %s -> %s", self.agent_id, self.mode.value, mode.value)
        self.mode = mode
        self.transitions.append((time.time(), mode))
        self._good = self._bad = 0

    def _poll(self, via: str = "rest") -> None:
        self._last_poll = time.monotonic()
        self.fetches += 1
        try:
            commands = self.client.poll(self.agent_id)
        except ControlError as exc:
            logger.warning("agent %s: cannot poll commands: %s", self.agent_id, exc)
            return
        for command in commands:
            self.deliver(command, via)

    def _loop(self) -> None:
        s = self.settings
        while not self._stop.is_set():
            if self._wake.wait(0.2):
                self._wake.clear()  # wake-ups arriving during the fetch make one more fetch, not one each
                self._poll(via="redis")
            if self._stop.is_set():
                return
            now = time.monotonic()
            if self.mode is not Mode.REDIS and now - self._last_poll >= s.poll_interval:
                self._poll()
            if self.redis is None:
                continue
            interval = s.recovery_interval if self.mode is Mode.REST else s.check_interval
            if now - self._last_check < interval:
                continue
            self._last_check = now
            healthy = self._healthy()
            if self.mode is Mode.REDIS and not healthy:
                self._enter(Mode.HYBRID)
                self._poll()
            elif self.mode is Mode.HYBRID:
                self._good, self._bad = (self._good + 1, 0) if healthy else (0, self._bad + 1)
                if self._good >= s.stable_checks:
                    self._enter(Mode.REDIS)
                    self._poll()  # whatever was published while we were not listening
                elif self._bad >= s.hybrid_failures:
                    self._enter(Mode.REST)
            elif self.mode is Mode.REST and healthy:
                self._enter(Mode.HYBRID)

    def stats(self) -> dict[str, int]:
        """Sent with heartbeats (``GET /agents/{id}`` -> ``info.channel``)."""
        return {"wakeups": self.wakeups, "fetches": self.fetches}

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._subscription is not None:
            self._subscription.stop()
