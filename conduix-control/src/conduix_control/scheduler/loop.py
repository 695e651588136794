"""The leader's loop: schedules, heartbeats from Redis, offline detection, placement, token publishing, resends."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from conduix_control.auth import audit
from conduix_control.db import Database
from conduix_control.db.models import Agent
from conduix_control.redis_client import ResilientClient
from conduix_control.scheduler.cron import fire_due
from conduix_control.scheduler.leader import LeaderLease
from conduix_control.service.commands import CommandBus
from conduix_control.service.placement import ingest_redis_heartbeats, mark_offline, place, publish_tokens
from conduix_control.settings import ControlSettings

__all__ = ["LeaderLoop"]

logger = logging.getLogger(__name__)

#: how often the leader deletes audit events past their retention (seconds)
PRUNE_EVERY = 3600.0


class LeaderLoop:
    """Runs every ``tick`` seconds in a thread; only the holder of the ``leader`` lease does the work."""

    def __init__(self, db: Database, settings: ControlSettings, redis: ResilientClient | None,
                 bus: CommandBus) -> None:
        self.db = db
        self.settings = settings
        self.redis = redis
        self.bus = bus
        self.lease = LeaderLease("leader", settings.instance, settings.leader_ttl)
        self._stop = threading.Event()
        self._seen_heartbeats: dict[str, bytes] = {}
        self._next_prune = 0.0  # time.monotonic() of the next pruning of the audit log
        self.last_tick: float | None = None  #: when the last tick ended (time.time())
        self.tick_duration = 0.0  #: how long it took (s)
        self._thread = threading.Thread(target=self._run, name="conduix-leader", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self.lease.token is not None

    def start(self) -> LeaderLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            calls = self.redis.metrics.requests if self.redis is not None else 0
            try:
                self.tick()
            except SQLAlchemyError as exc:
                logger.error("leader loop: database error (%s); retrying next tick", exc)
            if self.redis is not None and self.redis.metrics.requests == calls and self.redis.available:
                # a tick without a Redis call (no agents, or not the leader): PING, so that the client's state
                # (conduix_control_redis_connected, the breaker; their alerts) says whether Redis answers now
                self.redis.ping()
            self.tick_duration = time.monotonic() - started
            self.last_tick = time.time()
            self._stop.wait(self.settings.tick)

    def lag(self) -> float:
        """Seconds the loop is behind its schedule: since the last tick ended, minus one tick interval (0 when on
        time; grows while a tick hangs, on a slow database for example)."""
        if self.last_tick is None:
            return 0.0
        return max(0.0, time.time() - self.last_tick - self.settings.tick)

    def tick(self) -> None:
        with self.db.session() as session:
            if not self.lease.acquire(session):
                return
            ingest_redis_heartbeats(session, self.redis, self._seen_heartbeats, self.bus.keys)
            mark_offline(session, self.bus, self.settings.heartbeat_timeout)
            fire_due(session, self.settings.instance, time.time(), self.settings.misfire_window)
            place(session, self.bus, self.redis)
            publish_tokens(session, self.redis, self.bus.keys)
            online = set(session.scalars(select(Agent.id).where(Agent.status == "online")).all())
            self.bus.resend(session, ack_timeout=self.settings.ack_timeout, online_agents=online)
            self._prune(session)

    def _prune(self, session: Session) -> None:
        """Once an hour (and at the first tick as leader): audit events past ``audit_retention_days``."""
        days = self.settings.audit_retention_days
        if days <= 0 or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY
        deleted = audit.prune(session, older_than=time.time() - days * 86400)
        session.commit()
        if deleted:
            logger.info("deleted %d audit events older than %g days (audit_retention_days)", deleted, days)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.is_leader:
            try:
                with self.db.session() as session:
                    self.lease.release(session)
            except SQLAlchemyError as exc:
                logger.warning("could not release the leader lease: %s", exc)
