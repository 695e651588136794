"""Cron schedules: validate expressions and time zones, preview next runs, fire each tick once."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conduix_control.db.models import Pipeline, Schedule, ScheduleFire
from conduix_control.errors import ValidationFailedError

__all__ = ["due_fires", "fire_due", "next_runs", "validate_schedule"]

logger = logging.getLogger(__name__)

CRON_HINT = ("five fields 'minute hour day-of-month month day-of-week', e.g. '*/15 * * * *' (every 15 minutes) "
             "or '30 2 * * 1-5' (02:30 on weekdays); a sixth field is seconds: '*/10 * * * * *'")


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailedError(f"unknown time zone {timezone!r}", path="timezone",
                                    hint="use an IANA name such as 'UTC' or 'Europe/Paris'") from exc


def validate_schedule(cron: str, timezone: str) -> None:
    """Raise :class:`ValidationFailedError` for a bad cron expression (5 fields, or 6 with seconds last)."""
    _zone(timezone)
    try:
        croniter(cron, datetime.now(_zone(timezone)))
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ValidationFailedError(f"invalid cron expression {cron!r}: {exc}", path="cron", hint=CRON_HINT) from exc


def next_runs(cron: str, timezone: str, count: int = 5, after: float | None = None) -> list[datetime]:
    """The next ``count`` fire times, in the schedule's time zone."""
    base = datetime.fromtimestamp(after if after is not None else time.time(), _zone(timezone))
    it = croniter(cron, base)
    return [it.get_next(datetime) for _ in range(count)]


def due_fires(schedule: Schedule, now: float, misfire_window: float) -> list[int]:
    """Fire times (Unix seconds) of ``schedule`` after its last fire and up to ``now``, within the window."""
    start = max(schedule.last_fire if schedule.last_fire is not None else schedule.created_at,
                now - misfire_window)
    it = croniter(schedule.cron, datetime.fromtimestamp(start, _zone(schedule.timezone)))
    fires: list[int] = []
    while True:
        fire = int(it.get_next(float))
        if fire > now:
            return fires
        fires.append(fire)


def fire_due(session: Session, holder: str, now: float, misfire_window: float) -> list[tuple[int, int]]:
    """Record every due tick of every enabled schedule and set its pipeline running.

    The unique (schedule, fire_time) row is the guarantee: a tick a previous leader recorded is
    skipped, so each tick fires once even across a leader change. Returns (schedule id, fire time) pairs.
    """
    fired: list[tuple[int, int]] = []
    ids = session.scalars(select(Schedule.id).where(Schedule.enabled.is_(True))).all()
    for schedule_id in ids:
        schedule = session.get(Schedule, schedule_id)
        if schedule is None:
            continue
        for fire in due_fires(schedule, now, misfire_window):
            session.add(ScheduleFire(schedule_id=schedule_id, fire_time=fire, fired_by=holder, created_at=time.time()))
            schedule.last_fire = max(schedule.last_fire or 0, fire)
            pipeline = session.get(Pipeline, schedule.pipeline)
            if pipeline is not None:
                pipeline.desired = "running"
            try:
                session.commit()
            except IntegrityError:  # another leader recorded this tick: skip it
                session.rollback()
                logger.debug("schedule %d tick %d already fired", schedule_id, fire)
                schedule = session.get(Schedule, schedule_id)
                if schedule is None:
                    break
                continue
            fired.append((schedule_id, fire))
            logger.info("schedule %d fired for tick %d: pipeline %s", schedule_id, fire, schedule.pipeline)
    return fired
