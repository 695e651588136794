"""What the UI shows of pipelines: the DAG, per-component live numbers and a status summary.

Workers report per-component counters about every second; :func:`store_report` keeps the latest
snapshot on the run with rates computed from the previous report (report times, not arrival times),
so a snapshot read at any moment, by any control-plane instance, carries rates already.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conduix.config import PipelineSpec
from conduix_control.db.models import Pipeline, Run

__all__ = ["graph", "pipeline_summary", "snapshot", "store_report"]

KINDS = {"source": "source", "stage": "transform", "sink": "sink"}
COUNTERS = ("records_in", "records_out", "errors", "dead_letters", "dropped", "retries", "restarts", "buffered")
STALE_AFTER = 5.0  # a run silent this long counts as idle: rate 0
ACTIVE = ("pending", "running")


def graph(spec: PipelineSpec) -> dict[str, Any]:
    """The pipeline's DAG: nodes (id, kind source/transform/sink, type) and edges (from, to, output)."""
    components = spec.topological()
    return {"nodes": [{"id": c.id, "kind": KINDS.get(c.kind, c.kind), "type": c.type_name} for c in components],
            "edges": [{"from": ref.component, "to": c.id, "output": ref.output}
                      for c in components for ref in c.inputs]}


def store_report(run: Run, components: dict[str, Any], now: float, sampled_at: float | None = None) -> None:
    """Keep ``components`` (from a worker) on the run, with ``rate_in``/``rate_out`` since the last report.

    Rates divide by the time between the worker's samples (``sampled_at``, its clock) when given, else
    between the reports' arrivals; ``time`` (this server's clock) tells readers how fresh the numbers are.
    """
    previous = run.stats or {}
    before = previous.get("components") or {}
    sample = sampled_at if sampled_at is not None else now
    elapsed = sample - float(previous.get("sampled_at") or previous.get("time") or 0.0)
    merged: dict[str, Any] = {}
    for cid, numbers in components.items():
        row = {k: numbers.get(k) for k in ("kind", "type", *COUNTERS, "lag")}
        row["kind"] = KINDS.get(str(row["kind"]), row["kind"])
        old = before.get(cid)
        for field, rate in (("records_in", "rate_in"), ("records_out", "rate_out")):
            if old is None or elapsed > 60:
                row[rate] = 0.0
            elif elapsed <= 0:  # the same sample again: keep its rate
                row[rate] = float(old.get(rate) or 0.0)
            else:
                row[rate] = max(0.0, (int(row[field] or 0) - int(old.get(field) or 0)) / elapsed)
        merged[cid] = row
    run.stats = {"time": now, "sampled_at": sample, "components": merged}


def _live(run: Run, now: float) -> bool:
    """Its rates still mean something: running and reported lately."""
    stats = run.stats or {}
    return run.status == "running" and now - float(stats.get("time") or 0) <= STALE_AFTER


def current_runs(session: Session, pipeline: str) -> list[Run]:
    """The latest run of each replica, plus child runs (pipelines of pipelines) pending or running."""
    runs: list[Run] = []
    seen: set[int] = set()
    for run in session.scalars(select(Run).where(Run.pipeline == pipeline, Run.parent_run_id.is_(None))
                               .order_by(Run.id.desc()).limit(200)).all():
        if run.replica not in seen:
            seen.add(run.replica)
            runs.append(run)
    runs += session.scalars(select(Run).where(Run.pipeline == pipeline, Run.parent_run_id.is_not(None),
                                              Run.status.in_(ACTIVE)).order_by(Run.id).limit(200)).all()
    return runs


def _components(runs: list[Run], now: float) -> dict[str, dict[str, Any]]:
    """Per component, summed over ``runs``; lag is null unless some source knows it."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        live = _live(run, now)
        for cid, numbers in ((run.stats or {}).get("components") or {}).items():
            row = out.setdefault(cid, {"kind": numbers.get("kind"), "type": numbers.get("type"),
                                       **{k: 0 for k in COUNTERS}, "lag": None, "rate_in": 0.0, "rate_out": 0.0})
            for k in COUNTERS:
                row[k] += int(numbers.get(k) or 0)
            if numbers.get("lag") is not None and run.status == "running":
                row["lag"] = (row["lag"] or 0) + int(numbers["lag"])
            if live:
                row["rate_in"] += float(numbers.get("rate_in") or 0.0)
                row["rate_out"] += float(numbers.get("rate_out") or 0.0)
    for row in out.values():
        row["rate_in"], row["rate_out"] = round(row["rate_in"], 3), round(row["rate_out"], 3)
    return out


def _throughput(runs: list[Run], now: float) -> float:
    total = 0.0
    for run in runs:
        if _live(run, now):
            components = (run.stats or {}).get("components") or {}
            total += sum(float(c.get("rate_out") or 0.0) for c in components.values() if c.get("kind") == "sink")
    return round(total, 3)


def _status(pipeline: Pipeline, runs: list[Run]) -> str:
    """One word for the list: the desired state, refined by what the latest runs do."""
    statuses = {r.status for r in runs if r.parent_run_id is None}
    if pipeline.desired == "running":
        if "paused" in statuses:  # a replica's supervision gave up; it resumes by itself (its run says when)
            return "paused"
        if "running" in statuses:
            return "running"
        if not statuses or "pending" in statuses:
            return "starting"
        return "completed" if statuses == {"succeeded"} else "restarting"
    if pipeline.desired == "stopped" and "running" in statuses:
        return "stopping"
    return pipeline.desired  # stopped | paused | failed | completed


def pipeline_summary(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    """``status``, ``throughput`` (records/s out), ``records_in``/``records_out`` of the latest runs."""
    runs = current_runs(session, pipeline.name)
    now = time.time()
    return {"status": _status(pipeline, runs), "throughput": _throughput(runs, now),
            "records_in": sum(r.records_in for r in runs), "records_out": sum(r.records_out for r in runs)}


def snapshot(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    """What the live view shows: the pipeline's runs and its components' numbers and rates, now."""
    runs = current_runs(session, pipeline.name)
    now = time.time()
    return {"pipeline": pipeline.name, "desired": pipeline.desired, "status": _status(pipeline, runs), "time": now,
            "throughput": _throughput(runs, now),
            "runs": [{"id": r.id, "replica": r.replica, "agent_id": r.agent_id, "status": r.status,
                      "records_in": r.records_in, "records_out": r.records_out, "errors": r.errors,
                      "parent_run_id": r.parent_run_id} for r in runs],
            "components": _components(runs, now)}
