"""/pipelines: versions, validation with YAML locations, rollback, actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix_control.api.deps import Plane, plane, session, to_dict
from conduix_control.api.schemas import PipelineIn, RollbackIn
from conduix_control.db.models import Assignment, Pipeline, PipelineVersion
from conduix_control.service.actions import ACTIONS, pipeline_action
from conduix_control.service.commands import command_dict
from conduix_control.service.pipelines import apply_pipeline, get_pipeline, rollback, version_yaml

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


def _pipeline(s: Session, p: Pipeline) -> dict[str, Any]:
    data = to_dict(p)
    data["assignments"] = [to_dict(a) for a in s.scalars(select(Assignment).where(
        Assignment.pipeline == p.name, Assignment.status.in_(("active", "paused")))).all()]
    return data


@router.get("")
def list_pipelines(s: Session = Depends(session)) -> list[dict[str, Any]]:
    return [_pipeline(s, p) for p in s.scalars(select(Pipeline).order_by(Pipeline.name)).all()]


@router.get("/{name}")
def show_pipeline(name: str, s: Session = Depends(session)) -> dict[str, Any]:
    p = get_pipeline(s, name)
    return {**_pipeline(s, p), "yaml": version_yaml(s, name, p.current_version)}


@router.put("/{name}", responses={422: {"description": "invalid YAML; `errors` lists line, column, path, hint"}})
def put_pipeline(name: str, body: PipelineIn, response: Response, s: Session = Depends(session)) -> dict[str, Any]:
    """Create or update a pipeline; a changed YAML becomes a new version (validated by Conduix core)."""
    pipeline, changed = apply_pipeline(s, name, body.yaml, replicas=body.replicas, labels=body.labels,
                                       comment=body.comment)
    response.status_code = 201 if changed and pipeline.current_version == 1 else 200
    return {**_pipeline(s, pipeline), "changed": changed}


@router.get("/{name}/versions")
def list_versions(name: str, s: Session = Depends(session)) -> list[dict[str, Any]]:
    get_pipeline(s, name)
    rows = s.scalars(select(PipelineVersion).where(PipelineVersion.pipeline == name)
                     .order_by(PipelineVersion.version)).all()
    return [to_dict(r) for r in rows]


@router.post("/{name}/rollback")
def rollback_pipeline(name: str, body: RollbackIn, s: Session = Depends(session)) -> dict[str, Any]:
    """Make an earlier version current again (stored as a new version); restart to apply it to running replicas."""
    new = rollback(s, name, body.version)
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
