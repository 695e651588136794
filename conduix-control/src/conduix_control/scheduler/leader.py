"""A leader lease in the database: one control-plane instance at a time runs the leader's loop."""

from __future__ import annotations

import logging
import time

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conduix_control.db.models import Lease

__all__ = ["LeaderLease"]

logger = logging.getLogger(__name__)


class LeaderLease:
    """Acquire or renew the named lease with a conditional UPDATE (atomic on every backend).

    The holder renews it every tick; if it stops (crash, pause, partition from the database), the
    lease expires after ``ttl`` seconds and another instance takes it with a larger ``token``.
    """

    def __init__(self, name: str, holder: str, ttl: float) -> None:
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.token: int | None = None

    def acquire(self, session: Session) -> bool:
        """Take or renew the lease; True while this instance holds it."""
        now = time.time()
        result = session.execute(
            update(Lease).where(Lease.name == self.name, Lease.holder == self.holder, Lease.expires_at >= now)
            .values(expires_at=now + self.ttl))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.commit()
            return True
        result = session.execute(
            update(Lease).where(Lease.name == self.name, Lease.expires_at < now)
            .values(holder=self.holder, expires_at=now + self.ttl, token=Lease.token + 1))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.commit()
            self.token = session.get(Lease, self.name).token  # type: ignore[union-attr]
            logger.warning("%s is now the leader (%s lease, token %s)", self.holder, self.name, self.token)
            return True
        session.commit()
        if session.get(Lease, self.name) is None:
            try:
                session.add(Lease(name=self.name, holder=self.holder, token=1, expires_at=now + self.ttl))
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            self.token = 1
            logger.warning("%s is now the leader (%s lease, token 1)", self.holder, self.name)
            return True
        if self.token is not None:
            logger.warning("%s lost the %s lease", self.holder, self.name)
            self.token = None
        return False

    def release(self, session: Session) -> None:
        """Give the lease up at once (graceful shutdown), so another instance need not wait for the TTL."""
        session.execute(update(Lease).where(Lease.name == self.name, Lease.holder == self.holder)
                        .values(expires_at=0.0))
        session.commit()
        self.token = None
