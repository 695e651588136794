"""/runs (with trees of child runs, retries), /assignments, /schedules (with next runs previewed), /health, /ready."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from conduix_control import views
from conduix_control.api.deps import Plane, plane, session, to_dict
from conduix_control.api.schemas import (
    ChildRunIn,
    Id,
    Limit,
    RunReportIn,
    ScheduleIn,
    SchedulePatchIn,
    SchedulePreviewIn,
)
from conduix_control.auth.identity import Identity, current_identity, require_agent
from conduix_control.db.models import Assignment, Run, Schedule, ScheduleFire
from conduix_control.errors import NotFoundError
from conduix_control.scheduler.cron import next_runs, validate_schedule
from conduix_control.service.actions import report_run
from conduix_control.service.pipelines import get_pipeline
from conduix_control.service.runs import request_child, retry_run, run_tree

router = APIRouter()


@router.get("/health", tags=["health"])
def health(p: Plane = Depends(plane)) -> dict[str, Any]:
    return {"status": "ok", "instance": p.settings.instance,
            "leader": bool(p.leader is not None and p.leader.is_leader),
            "redis": None if p.redis is None else {"available": p.redis.available, **p.redis.metrics.as_dict()}}


@router.get("/ready", tags=["health"], responses={503: {"description": "the database does not answer"}})
def ready(p: Plane = Depends(plane)) -> JSONResponse:
    """Whether this instance can serve the API: its database answers (the readiness probe of Kubernetes).
    Redis is not needed: agents fall back to REST while it is away."""
    try:
        with p.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:  # the reason's class only: a driver's message may carry the URL
        return JSONResponse(status_code=503, content={"status": "not ready",
                                                      "reasons": [f"database: {type(exc).__name__}"]})
    return JSONResponse({"status": "ready"})


@router.get("/runs", tags=["runs"], response_model=list[views.Run])
def list_runs(pipeline: str | None = None, agent: str | None = None, limit: Limit = 200,
              s: Session = Depends(session)) -> list[dict[str, Any]]:
    query = select(Run).order_by(Run.id.desc()).limit(limit)
    if pipeline:
        query = query.where(Run.pipeline == pipeline)
    if agent:
        query = query.where(Run.agent_id == agent)
    return [to_dict(r) for r in s.scalars(query).all()]


@router.get("/runs/tree", tags=["runs"], response_model=list[views.RunTree])
def runs_tree(pipeline: str | None = None, limit: Limit = 100, s: Session = Depends(session)) -> list[dict[str, Any]]:
    """Root runs, newest first, each with ``children``: the runs it started (pipelines of pipelines)."""
    return run_tree(s, pipeline, limit)


@router.get("/runs/{run_id}", tags=["runs"], response_model=views.Run)
def show_run(run_id: Id, s: Session = Depends(session)) -> dict[str, Any]:
    run = s.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}")
    return to_dict(run)


@router.post("/runs/{run_id}/report", tags=["runs"])
def post_report(run_id: Id, body: RunReportIn, s: Session = Depends(session),
                identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    """An agent's report: status, counts, error. A finished run frees (or completes) its assignment."""
    run = s.get(Run, run_id)
    require_agent(identity, run.agent_id if run is not None else None, f"run {run_id}")
    return to_dict(report_run(s, run_id, body.model_dump(exclude_none=True)))


@router.post("/runs/{run_id}/retry", tags=["runs"], status_code=202,
             responses={409: {"description": "the run is not failed, stopped or lost (or its replica runs)"}})
def retry(run_id: Id, s: Session = Depends(session)) -> dict[str, Any]:
    """Run a failed, stopped or lost run again (same pipeline, version, parameters and parent); the leader
    places the new run."""
    return {"run": to_dict(retry_run(s, run_id))}


@router.post("/runs/{run_id}/children", tags=["runs"], status_code=201)
def request_child_run(run_id: Id, body: ChildRunIn, s: Session = Depends(session),
                      identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    """A worker's request (through its agent) for a child run: a ``trigger`` stage, or a record of a
    pipeline that others declare as ``parent:``. The leader places the new run once.

    Refused (409) unless run ``run_id`` is running and its pipeline may start ``pipeline`` (a trigger stage
    names it, or it declares ``parent:`` the run's pipeline); an agent asks for its own runs only (403)."""
    parent = s.get(Run, run_id)
    require_agent(identity, parent.agent_id if parent is not None else None, f"run {run_id}")
    return {"run": to_dict(request_child(s, run_id, body.pipeline, body.parameters))}


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


@router.get("/schedules", tags=["schedules"], response_model=list[views.Schedule])
def list_schedules(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [_schedule(r) for r in s.scalars(select(Schedule).order_by(Schedule.id)).all()]


@router.post("/schedules", tags=["schedules"], status_code=201, response_model=views.Schedule)
def create_schedule(body: ScheduleIn, s: Session = Depends(session)) -> dict[str, Any]:
    """A cron schedule for a pipeline; the answer previews the next five runs in the schedule's time zone."""
    get_pipeline(s, body.pipeline)
    validate_schedule(body.cron, body.timezone)
    row = Schedule(pipeline=body.pipeline, cron=body.cron, timezone=body.timezone, enabled=body.enabled,
                   created_at=time.time())
    s.add(row)
    s.commit()
    return _schedule(row)


@router.post("/schedules/preview", tags=["schedules"],
             responses={422: {"description": "bad cron expression or time zone; `detail` says why, with examples"}})
def preview_schedule(body: SchedulePreviewIn) -> dict[str, Any]:
    """The next fire times of a cron expression in a time zone, without saving anything."""
    validate_schedule(body.cron, body.timezone)
    return {"next_runs": [t.isoformat() for t in next_runs(body.cron, body.timezone, body.count)]}


@router.patch("/schedules/{schedule_id}", tags=["schedules"], response_model=views.Schedule)
def update_schedule(schedule_id: Id, body: SchedulePatchIn, s: Session = Depends(session)) -> dict[str, Any]:
    """Change a schedule's cron, time zone or enabled flag; ticks missed before the change do not fire."""
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    cron = body.cron if body.cron is not None else row.cron
    timezone = body.timezone if body.timezone is not None else row.timezone
    validate_schedule(cron, timezone)
    changed = cron != row.cron or timezone != row.timezone or (body.enabled and not row.enabled)
    row.cron, row.timezone = cron, timezone
    if body.enabled is not None:
        row.enabled = body.enabled
    if changed:  # count from now: the new expression must not fire ticks of the past
        row.last_fire = max(row.last_fire or 0, int(time.time()))
    s.commit()
    return _schedule(row)


@router.get("/schedules/{schedule_id}", tags=["schedules"], response_model=views.Schedule)
def show_schedule(schedule_id: Id, count: Annotated[int, Query(ge=1, le=100)] = 5,
                  s: Session = Depends(session)) -> dict[str, Any]:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    return _schedule(row, max(1, min(count, 100)))


@router.get("/schedules/{schedule_id}/fires", tags=["schedules"])
def schedule_fires(schedule_id: Id, s: Session = Depends(session)) -> list[dict[str, Any]]:
    rows = s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)
                     .order_by(ScheduleFire.fire_time)).all()
    return [to_dict(r) for r in rows]


@router.delete("/schedules/{schedule_id}", tags=["schedules"], status_code=204)
def delete_schedule(schedule_id: Id, s: Session = Depends(session)) -> Response:
    row = s.get(Schedule, schedule_id)
    if row is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    s.delete(row)
    s.commit()
    return Response(status_code=204)
