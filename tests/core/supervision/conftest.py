"""Fixtures for supervision tests: a private actor system per test, logging to a file we can read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conduix.supervision import BackoffSpec, SupervisionSystem, SupervisorSpec, TaskSpec, WorkerSpec, default_log_defs
from conduix.supervision.tree import find_node

#: Restart delays small enough for tests; the default schedule is 1, 2, 4, 8, 16 s.
FAST = BackoffSpec(initial=0.05, max=0.2, multiplier=2.0)


def worker(worker_id: str, directory: Path, *, heartbeat_timeout: float = 10.0, **task: Any) -> WorkerSpec:
    """A worker running the sequence-number test task, writing into ``directory``."""
    return WorkerSpec(
        worker_id,
        TaskSpec("conduix.supervision.testing:sequence_task",
                 {"worker_id": worker_id, "directory": str(directory), **task}),
        heartbeat_timeout=heartbeat_timeout,
    )


def supervisor(sup_id: str, children: list[Any], **kwargs: Any) -> SupervisorSpec:
    kwargs.setdefault("max_restarts", 5)
    kwargs.setdefault("within_seconds", 60)
    kwargs.setdefault("backoff", FAST)
    return SupervisorSpec(sup_id, children, **kwargs)


def node(status: dict[str, Any], node_id: str) -> dict[str, Any]:
    found = find_node(status, node_id)
    assert found is not None, f"{node_id} not in {status}"
    return found


def producing(status: dict[str, Any], node_id: str, at_least: int = 1) -> bool:
    """The worker runs and its current task has written at least ``at_least`` records since it started."""
    entry = find_node(status, node_id)
    if entry is None or entry.get("state") != "running" or entry.get("pid") is None or "task" not in entry:
        return False
    task = entry["task"]
    return bool(task["next"] - task["resumed_from"] >= at_least)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "actors.log"


@pytest.fixture
def system(log_file: Path) -> Iterator[SupervisionSystem]:
    log_defs = default_log_defs("INFO")
    log_defs["handlers"]["file"] = {"class": "logging.FileHandler", "filename": str(log_file),
                                    "formatter": "plain"}
    log_defs["loggers"]["conduix"]["handlers"] = ["file"]
    with SupervisionSystem(log_defs=log_defs) as running:
        yield running
