"""Pipelines: validate with core on save, keep every version, roll back, set the desired state."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conduix.access import runs_code
from conduix.api import Pipeline as CorePipeline
from conduix.config import PipelineSpec
from conduix.errors import ConfigError
from conduix_control.db.models import Pipeline, PipelineVersion
from conduix_control.errors import ForbiddenError, NotFoundError, ValidationFailedError

__all__ = ["apply_pipeline", "config_errors", "get_pipeline", "rollback", "validate_yaml", "version_yaml"]


def config_errors(exc: ConfigError) -> list[dict[str, Any]]:
    """Each problem of a ConfigError as JSON: message, line, column, YAML path, hint."""
    return [{"message": e.message if hasattr(e, "message") else str(e), "line": e.line, "column": e.column,
             "path": e.path, "hint": e.hint} for e in exc.errors]


def validate_yaml(name: str, text: str) -> PipelineSpec:
    """Core's spec of ``text`` as pipeline ``name``; :class:`ValidationFailedError` (with ``errors``) if invalid.

    In core's check mode: the control plane resolves no ``${VAR}`` from its own environment, reads no file
    and imports no module a pipeline names (agents resolve and build where the pipeline runs).
    """
    try:
        spec = CorePipeline.from_text(text, name=name, resolve=False).spec
    except ConfigError as exc:
        error = ValidationFailedError(f"pipeline {name!r} is not valid: {exc}")
        error.errors = exc.errors
        raise error from exc
    if spec.name != name:
        raise ValidationFailedError(f"the YAML names the pipeline {spec.name!r}, but it is saved as {name!r}",
                                    path="name", hint="use the same name, or remove 'name:' from the YAML")
    return spec


def get_pipeline(session: Session, name: str) -> Pipeline:
    pipeline = session.get(Pipeline, name)
    if pipeline is None:
        raise NotFoundError(f"no pipeline named {name!r}; list them with `conduix pipelines list`")
    return pipeline


def version_yaml(session: Session, name: str, version: int) -> str:
    row = session.scalar(select(PipelineVersion).where(PipelineVersion.pipeline == name,
                                                       PipelineVersion.version == version))
    if row is None:
        raise NotFoundError(f"pipeline {name!r} has no version {version}")
    return row.yaml


def _add_version(session: Session, pipeline: Pipeline, text: str, comment: str | None) -> int:
    latest = session.scalar(select(func.max(PipelineVersion.version)).where(PipelineVersion.pipeline == pipeline.name))
    version = (latest or 0) + 1
    session.add(PipelineVersion(pipeline=pipeline.name, version=version, yaml=text, comment=comment,
                                created_at=time.time()))
    pipeline.current_version = version
    pipeline.updated_at = time.time()
    return version


def _check_code(spec: PipelineSpec, allow_code: bool) -> None:
    """Components that run code a pipeline names (``python`` stages) are the admin role's to save."""
    code = runs_code(spec)
    if code and not allow_code:
        raise ForbiddenError(f"{', '.join(code)} of pipeline {spec.name!r} run code named by the pipeline; only "
                             "admins may save such a version (agents run it only with --allow-code)")


def apply_pipeline(session: Session, name: str, text: str, *, replicas: int | None = None,
                   labels: dict[str, str] | None = None, comment: str | None = None,
                   allow_code: bool = True) -> tuple[Pipeline, bool]:
    """Validate and save ``text`` as the new version of ``name`` (created when new).

    Returns the pipeline and whether a new version was stored (saving the same YAML again is a no-op).
    ``allow_code`` False refuses a version with components that run code (:class:`ForbiddenError`).
    """
    _check_code(validate_yaml(name, text), allow_code)
    now = time.time()
    pipeline = session.get(Pipeline, name)
    if pipeline is None:
        pipeline = Pipeline(name=name, current_version=0, replicas=replicas or 1, labels=labels or {},
                            desired="stopped", lease_seq=0, created_at=now, updated_at=now)
        session.add(pipeline)
        session.flush()
    else:
        if replicas is not None:
            pipeline.replicas = replicas
        if labels is not None:
            pipeline.labels = labels
        if pipeline.current_version and version_yaml(session, name, pipeline.current_version) == text:
            session.commit()
            return pipeline, False
    _add_version(session, pipeline, text, comment)
    session.commit()
    return pipeline, True


def rollback(session: Session, name: str, version: int, *, allow_code: bool = True) -> int:
    """Store version ``version``'s YAML as a new version (history is never rewritten); returns the new number."""
    pipeline = get_pipeline(session, name)
    text = version_yaml(session, name, version)
    _check_code(validate_yaml(name, text), allow_code)
    new = _add_version(session, pipeline, text, f"rollback to version {version}")
    session.commit()
    return new
