"""/pipelines: versions, validation with YAML locations, rollback, actions, the DAG, live stats."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from conduix.errors import ConduixError, ConfigError
from conduix_control import views
from conduix_control.api.deps import Plane, plane, session, to_dict
from conduix_control.api.schemas import PipelineIn, RollbackIn, ValidateIn
from conduix_control.auth.identity import Identity, current_identity
from conduix_control.db.models import MAX_ID, Assignment, Pipeline, PipelineVersion
from conduix_control.errors import NotFoundError
from conduix_control.service.actions import ACTIONS, pipeline_action
from conduix_control.service.commands import command_dict
from conduix_control.service.pipelines import (
    apply_pipeline,
    config_errors,
    get_pipeline,
    rollback,
    validate_yaml,
    version_yaml,
)
from conduix_control.service.stats import graph, pipeline_summary, snapshot

router = APIRouter(prefix="/pipelines", tags=["pipelines"])

logger = logging.getLogger(__name__)


def _pipeline(s: Session, p: Pipeline) -> dict[str, Any]:
    data = to_dict(p)
    data["assignments"] = [to_dict(a) for a in s.scalars(select(Assignment).where(
        Assignment.pipeline == p.name, Assignment.status.in_(("active", "paused")))).all()]
    return {**data, **pipeline_summary(s, p)}


@router.get("", response_model=list[views.PipelineSummary])
def list_pipelines(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [_pipeline(s, p) for p in s.scalars(select(Pipeline).order_by(Pipeline.name)).all()]


@router.get("/{name}", response_model=views.PipelineDetail)
def show_pipeline(name: str, s: Session = Depends(session)) -> dict[str, Any]:
    p = get_pipeline(s, name)
    return {**_pipeline(s, p), "yaml": version_yaml(s, name, p.current_version)}


@router.put("/{name}", response_model=views.SaveResult,
            responses={422: {"description": "invalid YAML; `errors` lists line, column, path, hint"},
                       403: {"description": "the YAML runs code (a python stage): admins only"}})
def put_pipeline(name: str, body: PipelineIn, response: Response, s: Session = Depends(session),
                 identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    """Create or update a pipeline; a changed YAML becomes a new version (validated by Conduix core).

    A version with components that run code the pipeline names (``python`` stages) needs the admin role."""
    pipeline, changed = apply_pipeline(s, name, body.yaml, replicas=body.replicas, labels=body.labels,
                                       comment=body.comment, allow_code=identity.role == "admin")
    response.status_code = 201 if changed and pipeline.current_version == 1 else 200
    return {**_pipeline(s, pipeline), "changed": changed}


@router.post("/{name}/validate", response_model=views.ValidateResult, response_model_exclude_unset=True)
def validate_pipeline(name: str, body: ValidateIn) -> dict[str, Any]:
    """Check YAML as pipeline ``name`` without saving it (the editor calls this as you type).

    Always 200: ``{"valid": true, "graph": ...}`` or ``{"valid": false, "errors": [{message, line,
    column, path, hint}]}`` with 1-based lines and columns (null when the problem has no place).
    """
    try:
        spec = validate_yaml(name, body.yaml)
    except ConfigError as exc:
        return {"valid": False, "errors": config_errors(exc)}
    except ConduixError as exc:  # e.g. a plugin that fails to load: no place in the YAML
        return {"valid": False, "errors": [{"message": str(exc), "line": None, "column": None, "path": None,
                                            "hint": None}]}
    return {"valid": True, "graph": graph(spec), "errors": []}


@router.get("/{name}/graph", response_model=views.Graph)
def pipeline_graph(name: str, version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   s: Session = Depends(session)) -> dict[str, Any]:
    """The DAG of the current version (or ``version``): nodes and edges for drawing it."""
    pipeline = get_pipeline(s, name)
    return graph(validate_yaml(name, version_yaml(s, name, version or pipeline.current_version)))


@router.get("/{name}/stats", response_model=views.Stats)
def pipeline_stats(name: str, s: Session = Depends(session)) -> dict[str, Any]:
    """The pipeline's runs and per-component numbers and rates (records/s) as last reported by its workers."""
    return snapshot(s, get_pipeline(s, name))


def _read_snapshot(p: Plane, name: str) -> dict[str, Any]:
    with p.db.session() as s:  # a fresh session per tick: nothing is held across the stream's sleeps
        return snapshot(s, get_pipeline(s, name))


@router.get("/{name}/live", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "an event `stats` (data: what /stats returns) every interval"}})
async def pipeline_live(name: str, request: Request, interval: float = Query(1.0, ge=0.2, le=60),
                        p: Plane = Depends(plane)) -> StreamingResponse:
    """Server-sent events: the /stats snapshot as an event ``stats`` about every second, until the client leaves."""
    await run_in_threadpool(_read_snapshot, p, name)  # an unknown pipeline is a 404, not an empty stream

    async def events() -> AsyncIterator[str]:
        yield f": live stats of pipeline {name}\nretry: 2000\n\n"
        while not await request.is_disconnected():
            try:
                data = await run_in_threadpool(_read_snapshot, p, name)
            except NotFoundError as exc:
                yield f"event: gone\ndata: {json.dumps({'detail': str(exc)})}\n\n"
                return
            except SQLAlchemyError as exc:
                logger.warning("live stats of %s: database error (%s); retrying", name, exc)
                yield ": database unavailable, retrying\n\n"  # a comment keeps the connection alive
            else:
                yield f"event: stats\ndata: {json.dumps(data)}\n\n"
            await asyncio.sleep(interval)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{name}/versions", response_model=list[views.PipelineVersion])
def list_versions(name: str, s: Session = Depends(session)) -> list[dict[str, Any]]:
    get_pipeline(s, name)
    rows = s.scalars(select(PipelineVersion).where(PipelineVersion.pipeline == name)
                     .order_by(PipelineVersion.version)).all()
    return [to_dict(r) for r in rows]


@router.post("/{name}/rollback", responses={403: {"description": "that version runs code: admins only"}})
def rollback_pipeline(name: str, body: RollbackIn, s: Session = Depends(session),
                      identity: Identity = Depends(current_identity)) -> dict[str, Any]:
    """Make an earlier version current again (stored as a new version); restart to apply it to running replicas."""
    new = rollback(s, name, body.version, allow_code=identity.role == "admin")
    return {"pipeline": name, "version": new, "rolled_back_to": body.version}


def _action(name: str, action: str, response: Response, s: Session, p: Plane) -> dict[str, Any]:
    commands = pipeline_action(s, p.bus, name, action)
    pipeline = get_pipeline(s, name)
    # 202: stored, delivery pending (Redis down or the agent not subscribed: it gets it by REST polling)
    response.status_code = 202 if action == "start" or any(c.state == "pending" for c in commands) else 200
    return {"pipeline": name, "action": action, "desired": pipeline.desired,
            "commands": [command_dict(c) for c in commands]}


def _make_action_route(action: str) -> None:
    def handler(name: str, response: Response, s: Session = Depends(session),
                p: Plane = Depends(plane)) -> dict[str, Any]:
        return _action(name, action, response, s, p)

    handler.__name__ = f"{action}_pipeline"
    handler.__doc__ = (f"{action.capitalize()} the pipeline: 200 when every command went out over Redis, "
                       "202 when stored for later delivery (or, for start, placed by the leader's next tick).")
    router.add_api_route(f"/{{name}}/{action}", handler, methods=["POST"], name=f"{action}_pipeline")


for _action_name in ACTIONS:
    _make_action_route(_action_name)
