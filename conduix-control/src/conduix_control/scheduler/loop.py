"""The leader's loop: schedules, heartbeats from Redis, offline detection, placement, token publishing, resends."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

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
        self._seen_heartbeats: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="conduix-leader", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self.lease.token is not None

    def start(self) -> LeaderLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except SQLAlchemyError as exc:
                logger.error("leader loop: database error (%s); retrying next tick", exc)
            self._stop.wait(self.settings.tick)

    def tick(self) -> None:
        with self.db.session() as session:
            if not self.lease.acquire(session):
                return
            ingest_redis_heartbeats(session, self.redis, self._seen_heartbeats)
            mark_offline(session, self.bus, self.settings.heartbeat_timeout)
            fire_due(session, self.settings.instance, time.time(), self.settings.misfire_window)
            place(session, self.bus, self.redis)
            publish_tokens(session, self.redis)
            online = set(session.scalars(select(Agent.id).where(Agent.status == "online")).all())
            self.bus.resend(session, ack_timeout=self.settings.ack_timeout, online_agents=online)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.is_leader:
            try:
                with self.db.session() as session:
                    self.lease.release(session)
            except SQLAlchemyError as exc:
                logger.warning("could not release the leader lease: %s", exc)
