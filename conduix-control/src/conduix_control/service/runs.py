"""Runs as the UI sees them: trees of pipelines of pipelines, child runs requested by workers, retries.

A *child run* is a run of a pipeline requested by a run of another (its parent): a ``trigger`` stage,
or a pipeline declaring ``parent:`` (one child run per parent record). It has ``parent_run_id`` and
``parameters``, runs once (a one-shot assignment the leader places like a replica) and keeps no
checkpoint: a failed child run is retried whole.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix.config.yamlsource import safe_load
from conduix.errors import ConfigError
from conduix.project.model import triggered
from conduix_control.db.models import Assignment, Pipeline, PipelineVersion, Run
from conduix_control.errors import ControlError, NotFoundError
from conduix_control.service.pipelines import get_pipeline, validate_yaml

__all__ = ["RETRYABLE", "child_runs_of", "declared_children", "one_shot_ids", "request_child", "retry_run",
           "run_tree", "startable"]

logger = logging.getLogger(__name__)

RETRYABLE = ("failed", "stopped", "lost", "fenced", "lease_expired")
MAX_TREE_RUNS = 5000


def request_child(session: Session, parent_run_id: int, pipeline: str, parameters: dict[str, Any]) -> Run:
    """A pending run of ``pipeline`` with ``parameters``, child of run ``parent_run_id``; the leader places it.

    Only a running run (placed on an agent, not ended) may ask, and only for a pipeline its own version may
    start: one a ``trigger`` stage of it names, or one declaring ``parent:`` its pipeline (or data type).
    """
    parent = session.get(Run, parent_run_id)
    if parent is None:
        raise NotFoundError(f"no run {parent_run_id}")
    if parent.status not in ("pending", "running") or parent.assignment_id is None:  # placed, not ended
        raise ControlError(f"run {parent_run_id} of {parent.pipeline} is {parent.status}; only a running run may "
                           "start child runs")
    allowed = startable(session, parent.pipeline, parent.version)
    if pipeline not in allowed:
        raise ControlError(f"run {parent_run_id} of {parent.pipeline} (version {parent.version}) may not start "
                           f"{pipeline!r}: its trigger stages and the pipelines declaring it their parent name "
                           f"{', '.join(sorted(allowed)) or 'none'}")
    child = get_pipeline(session, pipeline)
    run = _pending_run(session, child.name, child.current_version, parent_run_id=parent.id, parameters=parameters)
    session.commit()
    logger.info("run %d of %s requested child run %d of %s", parent.id, parent.pipeline, run.id, pipeline)
    return run


def _pending_run(session: Session, pipeline: str, version: int, *, replica: int = 0, parent_run_id: int | None,
                 parameters: dict[str, Any] | None) -> Run:
    now = time.time()
    run = Run(pipeline=pipeline, replica=replica, agent_id=None, assignment_id=None, version=version, token=0,
              status="pending", records_in=0, records_out=0, errors=0, parent_run_id=parent_run_id,
              parameters=parameters, started_at=now, updated_at=now)
    session.add(run)
    session.flush()
    return run


def retry_run(session: Session, run_id: int) -> Run:
    """Run a failed (stopped, lost) run again: same pipeline, version and parameters.

    A child run gets a new child run of the same parent. A replica's run makes the pipeline run
    again (desired ``running``) with that run's version, resuming from the replica's checkpoint.
    """
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id}")
    if run.status not in RETRYABLE:
        raise ControlError(f"run {run_id} is {run.status}; only failed, stopped or lost runs can be retried")
    if run.parent_run_id is not None:
        new = _pending_run(session, run.pipeline, run.version, parent_run_id=run.parent_run_id,
                           parameters=run.parameters)
    else:
        pipeline = get_pipeline(session, run.pipeline)
        busy = session.scalar(select(Assignment).where(
            Assignment.pipeline == run.pipeline, Assignment.replica == run.replica,
            Assignment.status.in_(("active", "paused")), Assignment.id.not_in(one_shot_ids(session))))
        waiting = session.scalar(select(Run.id).where(
            Run.pipeline == run.pipeline, Run.replica == run.replica, Run.status == "pending",
            Run.assignment_id.is_(None), Run.parent_run_id.is_(None)))
        if busy is not None or waiting is not None:
            raise ControlError(f"replica {run.replica} of pipeline {run.pipeline!r} is running or about to "
                               f"(run {busy.run_id if busy else waiting}); stop it first to retry run {run_id}")
        new = _pending_run(session, run.pipeline, run.version, replica=run.replica, parent_run_id=None,
                           parameters=None)
        pipeline.desired = "running"
        pipeline.updated_at = time.time()  # a fresh start: earlier failures no longer count as a crash loop
    session.commit()
    logger.info("run %d of %s retried as run %d", run_id, run.pipeline, new.id)
    return new


def one_shot_ids(session: Session) -> set[int]:
    """Live assignments that run a child run once (not a replica the leader keeps placed)."""
    return set(session.scalars(select(Assignment.id).join(Run, Run.id == Assignment.run_id).where(
        Assignment.status.in_(("active", "paused")), Run.parent_run_id.is_not(None))).all())


def run_tree(session: Session, pipeline: str | None, limit: int) -> list[dict[str, Any]]:
    """Root runs newest first, each with its ``children`` (recursively, oldest first).

    Without ``pipeline`` the roots are runs without a parent; with it, that pipeline's runs whose
    parent is not among them (a child pipeline's runs are roots of their own listing).
    """
    query = select(Run).order_by(Run.id.desc()).limit(max(1, min(limit, 1000)))
    query = query.where(Run.pipeline == pipeline) if pipeline else query.where(Run.parent_run_id.is_(None))
    top = session.scalars(query).all()
    ids = {r.id for r in top}
    nodes: dict[int, dict[str, Any]] = {r.id: {**_row(r), "children": []} for r in top}
    roots = [nodes[r.id] for r in top if r.parent_run_id not in ids]
    frontier = [r.id for r in top]
    while frontier and len(nodes) < MAX_TREE_RUNS:
        children = session.scalars(select(Run).where(Run.parent_run_id.in_(frontier)).order_by(Run.id)
                                   .limit(MAX_TREE_RUNS - len(nodes))).all()
        frontier = []
        for child in children:
            if child.id in nodes:
                continue
            nodes[child.id] = {**_row(child), "children": []}
            nodes[child.parent_run_id]["children"].append(nodes[child.id])  # type: ignore[index]
            frontier.append(child.id)
    return roots


def _row(run: Run) -> dict[str, Any]:
    return {c.key: getattr(run, c.key) for c in Run.__mapper__.column_attrs}


def child_runs_of(session: Session, run_id: int) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.parent_run_id == run_id).order_by(Run.id)).all())


def startable(session: Session, pipeline: str, version: int) -> set[str]:
    """The pipelines a run of ``pipeline`` at ``version`` may start: those its ``trigger`` stages name, and
    those declaring it (or its data type) their ``parent:``."""
    names = {c["pipeline"] for c in declared_children(session, pipeline, version)}
    text = session.scalar(select(PipelineVersion.yaml).where(PipelineVersion.pipeline == pipeline,
                                                             PipelineVersion.version == version))
    return names | _triggered(pipeline, text or "")


def _header(text: str) -> dict[str, Any]:
    try:
        data = safe_load(text)
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def _triggered(name: str, text: str) -> set[str]:
    """The pipelines the ``trigger`` stages of pipeline ``text`` start (read in check mode)."""
    try:
        return triggered(validate_yaml(name, text))
    except ConfigError:
        return set()


def declared_children(session: Session, pipeline: str, version: int) -> list[dict[str, Any]]:
    """Pipelines declaring ``parent:`` this one (its name or data type) with another data type:
    a child run of each per record this pipeline delivers. ``start`` and ``parameters`` are the
    child's ``child:`` settings."""
    texts = {name: text for name, text in session.execute(select(Pipeline.name, PipelineVersion.yaml).join(
        PipelineVersion, (PipelineVersion.pipeline == Pipeline.name)
        & (PipelineVersion.version == Pipeline.current_version))).all()}
    own = session.scalar(select(PipelineVersion.yaml).where(PipelineVersion.pipeline == pipeline,
                                                            PipelineVersion.version == version))
    data_type = _header(own or "").get("data_type")
    started_by_triggers = _triggered(pipeline, own or "")
    children = []
    for name, text in sorted(texts.items()):
        header = _header(text)
        parent = header.get("parent")
        if name == pipeline or parent is None or parent not in (pipeline, data_type):
            continue
        if name in started_by_triggers:
            continue  # its trigger stage requests its runs; one per record, not two
        if data_type is not None and header.get("data_type") == data_type:
            continue  # same data type: joined by a topic, both run on their own
        child = header.get("child")
        settings: dict[str, Any] = child if isinstance(child, dict) else {}
        children.append({"pipeline": name, "start": settings.get("start", "after_parent"),
                         "parameters": settings.get("parameters")})
    return children
