"""/runs, /assignments, /schedules (with next runs previewed), /health."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control.api.deps import Plane, plane, session, to_dict
from conduix_control.api.schemas import RunReportIn, ScheduleIn
from conduix_control.db.models import Assignment, Run, Schedule, ScheduleFire
from conduix_control.errors import NotFoundError
from conduix_control.scheduler.cron import next_runs, validate_schedule
from conduix_control.service.actions import report_run
from conduix_control.service.pipelines import get_pipeline

router = APIRouter()


@router.get("/health", tags=["health"])
def health(p: Plane = Depends(plane)) -> dict[str, Any]:
    return {"status": "ok", "instance": p.settings.instance,
            "leader": bool(p.leader is not None and p.leader.is_leader),
            "redis": None if p.redis is None else {"available": p.redis.available, **p.redis.metrics.as_dict()}}


@router.get("/runs", tags=["runs"])
def list_runs(pipeline: str | None = None, agent: str | None = None, limit: int = 200,
              s: Session = Depends(session)) -> list[dict[str, Any]]:
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if pipeline:
        query = query.where(Run.pipeline == pipeline)
    if agent:
        query = query.where(Run.agent_id == agent)
    return [to_dict(r) for r in s.scalars(query).all()]


@router.get("/runs/{run_id}", tags=["runs"])
def show_run(run_id: int, s: Session = Depends(session)) -> dict[str, Any]:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}")
    return to_dict(run)


@router.post("/runs/{run_id}/report", tags=["runs"])
def post_report(run_id: int, body: RunReportIn, s: Session = Depends(session)) -> dict[str, Any]:
    """An agent's report: status, counts, error. A finished run frees (or completes) its assignment."""
    return to_dict(report_run(s, run_id, body.model_dump(exclude_none=True)))


@router.get("/assignments", tags=["runs"])
def list_assignments(pipeline: str | None = None, status: str | None = None,
                     s: Session = Depends(session)) -> list[dict[str, Any]]:
    query = select(Assignment).order_by(Assignment.id)
    if pipeline:
        query = query.where(Assignment.pipeline == pipeline)
    if status:
        query = query.where(Assignment.status == status)
    return [to_dict(a) for a in s.scalars(query).all()]


def _schedule(row: Schedule, count: int = 5) -> dict[str, Any]:
    return {**to_dict(row), "next_runs": [t.isoformat() for t in next_runs(row.cron, row.timezone, count)]}


@router.get("/schedules", tags=["schedules"])
def list_schedules(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [_schedule(r) for r in s.scalars(select(Schedule).order_by(Schedule.id)).all()]


@router.post("/schedules", tags=["schedules"], status_code=201)
def create_schedule(body: ScheduleIn, s: Session = Depends(session)) -> dict[str, Any]:
    """A cron schedule for a pipeline; the answer previews the next five runs in the schedule's time zone."""
    get_pipeline(s, body.pipeline)
    validate_schedule(body.cron, body.timezone)
    row = Schedule(pipeline=body.pipeline, cron=body.cron, timezone=body.timezone, enabled=body.enabled,
                   created_at=time.time())
    s.add(row)
    s.commit()
    return _schedule(row)


@router.get("/schedules/{schedule_id}", tags=["schedules"])
def show_schedule(schedule_id: int, count: int = 5, s: Session = Depends(session)) -> dict[str, Any]:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    return _schedule(row, max(1, min(count, 100)))


@router.get("/schedules/{schedule_id}/fires", tags=["schedules"])
def schedule_fires(schedule_id: int, s: Session = Depends(session)) -> list[dict[str, Any]]:
    rows = s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
                     .order_by(ScheduleFire.fire_time)).all()
    return [to_dict(r) for r in rows]


@router.delete("/schedules/{schedule_id}", tags=["schedules"], status_code=204)
def delete_schedule(schedule_id: int, s: Session = Depends(session)) -> Response:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    s.delete(row)
    s.commit()
    return Response(status_code=204)
