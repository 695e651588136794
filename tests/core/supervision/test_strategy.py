"""Restart logic without actors: which children, the budget window, the backoff schedule, spec checks."""

from __future__ import annotations

import random

import pytest

from conduix.errors import ConfigError
from conduix.supervision import (
    Backoff,
    BackoffSpec,
    RestartBudget,
    SupervisorSpec,
    TaskSpec,
    WorkerSpec,
    children_to_restart,
)

ORDER = ["source", "parse", "sink"]


@pytest.mark.parametrize(
    ("strategy", "failed", "expected"),
    [
        ("one_for_one", "parse", ["parse"]),
        ("one_for_all", "parse", ["source", "parse", "sink"]),
        ("rest_for_one", "parse", ["parse", "sink"]),
        ("rest_for_one", "source", ["source", "parse", "sink"]),
        ("rest_for_one", "sink", ["sink"]),
        ("one_for_all", "sink", ["source", "parse", "sink"]),
    ],
)
def test_children_to_restart(strategy, failed, expected):
    assert children_to_restart(strategy, ORDER, failed) == expected


def test_children_to_restart_rejects_unknown_input():
    with pytest.raises(ValueError, match="not one of the children"):
        children_to_restart("one_for_one", ORDER, "ghost")
    with pytest.raises(ValueError, match="unknown strategy"):
        children_to_restart("all_for_none", ORDER, "sink")  # type: ignore[arg-type]


def test_budget_allows_max_restarts_within_the_window_then_refuses():
    budget = RestartBudget(max_restarts=3, within_seconds=10)
    assert [budget.try_restart(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert budget.try_restart(3.0) is False
    assert budget.used(3.0) == 3


def test_budget_window_slides():
    budget = RestartBudget(max_restarts=2, within_seconds=10)
    assert budget.try_restart(0.0) and budget.try_restart(5.0)
    assert not budget.try_restart(9.9)
    assert budget.try_restart(10.0)  # the restart at 0.0 left the window
    assert budget.used(10.0) == 2
    assert budget.used(100.0) == 0
    budget.try_restart(100.0)
    budget.reset()
    assert budget.used(100.0) == 0


def test_zero_budget_never_restarts():
    assert RestartBudget(0, 60).try_restart(0.0) is False


def test_default_backoff_doubles_from_one_to_sixteen_seconds():
    backoff = Backoff(BackoffSpec())
    assert [backoff.delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 16, 16]


def test_backoff_parameters():
    backoff = Backoff(BackoffSpec(initial=0.05, max=0.3, multiplier=3))
    assert [round(backoff.delay(n), 6) for n in range(4)] == [0.05, 0.15, 0.3, 0.3]


def test_backoff_jitter_stays_within_its_fraction_and_varies():
    backoff = Backoff(BackoffSpec(initial=1, max=16, jitter=0.2), rng=random.Random(7))
    delays = [backoff.delay(2) for _ in range(200)]
    assert all(3.2 <= d <= 4.8 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 2, "max": 1}, "initial <= max"),
        ({"multiplier": 0.5}, "multiplier must be >= 1"),
        ({"jitter": 1.5}, "jitter must be in"),
    ],
)
def test_backoff_spec_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BackoffSpec(**kwargs)


def test_supervisor_spec_validation():
    task = TaskSpec("conduix.supervision.testing:sequence_task")
    with pytest.raises(ConfigError, match="unknown strategy 'one_for_some'"):
        SupervisorSpec("root", strategy="one_for_some")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="two children are named 'w'"):
        SupervisorSpec("root", children=[WorkerSpec("w", task), WorkerSpec("w", task)])
    with pytest.raises(ConfigError, match="max_restarts >= 0"):
        SupervisorSpec("root", max_restarts=-1)
    with pytest.raises(ConfigError, match=r"package\.module:function"):
        TaskSpec("no_colon")
    with pytest.raises(ConfigError, match="heartbeat_timeout"):
        WorkerSpec("w", task, heartbeat_timeout=0)
    tree = SupervisorSpec("root", children=[WorkerSpec("a", task), SupervisorSpec("sub", [WorkerSpec("b", task)])])
    assert [node.id for node in tree.walk()] == ["root", "a", "sub", "b"]
