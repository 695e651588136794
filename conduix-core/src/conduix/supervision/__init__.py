"""Supervision of pipeline workers on Thespian actors.

Actors supervise; records never travel through actor messages. A worker actor
owns one :class:`WorkerTask` (one slice of a pipeline) in its own process;
supervisors restart failed children by strategy within a restart budget and
with exponential backoff, escalate when the budget is spent, and the root
pauses the tree with the reason kept until it is resumed.

    with SupervisionSystem() as system:
        tree = system.start(SupervisorSpec("root", children=[WorkerSpec("w1", TaskSpec("pkg.mod:factory"))]))
        tree.status()
"""

from __future__ import annotations

from conduix.supervision.spec import BackoffSpec, ChildSpec, Strategy, SupervisorSpec, TaskSpec, WorkerSpec
from conduix.supervision.strategy import Backoff, RestartBudget, children_to_restart
from conduix.supervision.system import DEFAULT_BASE, SupervisionSystem, default_log_defs, free_port
from conduix.supervision.task import WorkerTask, create_task
from conduix.supervision.tree import SupervisionTree, find_node, iter_nodes

__all__ = [
    "DEFAULT_BASE",
    "Backoff",
    "BackoffSpec",
    "ChildSpec",
    "RestartBudget",
    "Strategy",
    "SupervisionSystem",
    "SupervisionTree",
    "SupervisorSpec",
    "TaskSpec",
    "WorkerSpec",
    "WorkerTask",
    "children_to_restart",
    "create_task",
    "default_log_defs",
    "find_node",
    "free_port",
    "iter_nodes",
]
