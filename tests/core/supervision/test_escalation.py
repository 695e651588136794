"""Crash loops: budget spent -> escalation -> root paused with the reason -> resume. Pause, finish."""

from __future__ import annotations

import re
import time

import pytest

from conduix.supervision import TaskSpec, WorkerSpec
from conduix.supervision.testing import read_events, read_sequence
from conduix.testing import eventually
from tests.core.supervision.conftest import node, producing, supervisor, worker

pytestmark = pytest.mark.slow


def test_crash_loop_escalates_then_pauses_the_tree_until_resumed(system, tmp_path, log_file):
    switch = tmp_path / "failing"
    switch.touch()
    sub = supervisor("sub", [worker("w", tmp_path, fail_at=0, fail_while=str(switch))], max_restarts=2)
    tree = system.start(supervisor("root", [sub, worker("steady", tmp_path)], max_restarts=1))

    paused = tree.wait_for(lambda s: s["state"] == "paused" and all(
        node(s, n)["state"] == "stopped" for n in ("sub", "steady")), timeout=60)
    reason = paused["reason"]
    assert reason.startswith("supervisor root gave up after 1 restarts within 60 s; last failure: sub: ")
    assert "supervisor sub gave up after 2 restarts" in reason and "injected failure at record 0" in reason
    # the sub supervisor was restarted once by the root, then escalated again
    assert node(paused, "sub")["restarts"] == 1
    assert [e.get("gave_up", False) for e in paused["events"]] == [False, True]
    # 2 budgets of 3 failures each: the worker ran 6 times, nothing runs now
    assert [e[1] for e in read_events(tmp_path) if e[0] == "start"].count("w") == 6

    # restart counts and backoff delays are in the logs, with the escalation
    eventually(lambda: "the tree is paused until resumed" in log_file.read_text(), what="pause logged")
    logged = log_file.read_text()
    delays = re.findall(r"supervisor sub: child w failed .*?; restarting w in ([0-9.]+) s \(restart (\d) of 2", logged)
    assert delays[:2] == [("0.050", "1"), ("0.100", "2")]
    assert "supervisor sub gave up after 2 restarts within 60 s" in logged and "escalating to its parent" in logged

    switch.unlink()  # the operator fixed the cause
    resumed = tree.resume()
    assert resumed["state"] == "running" and "reason" not in resumed
    status = tree.wait_for(lambda s: producing(s, "w", 10) and producing(s, "steady", 10))
    assert status["budget"]["used"] == 0
    tree.stop()
    written = read_sequence(tmp_path, "steady")
    assert set(written) == set(range(max(written) + 1))


def test_operator_pause_stops_the_tasks_and_resume_restarts_them_from_their_checkpoint(system, tmp_path):
    tree = system.start(supervisor("root", [supervisor("sub", [worker("a", tmp_path)]), worker("b", tmp_path)]))
    running = tree.wait_for(lambda s: producing(s, "a", 20) and producing(s, "b", 20))
    pids = {w: node(running, w)["pid"] for w in "ab"}

    status = tree.pause("maintenance")
    assert status["state"] == "paused" and status["reason"] == "maintenance"
    paused = tree.wait_for(lambda s: all(node(s, w)["state"] == "paused" for w in "ab"))
    assert node(paused, "sub")["state"] == "paused"
    counts = {w: len(read_sequence(tmp_path, w)) for w in "ab"}
    time.sleep(0.3)  # sleep-ok: nothing may be written meanwhile
    assert {w: len(read_sequence(tmp_path, w)) for w in "ab"} == counts  # nothing written while paused

    tree.resume()
    after = tree.wait_for(lambda s: all(node(s, w)["state"] == "running" and node(s, w)["task"]["next"] >
                                        node(s, w)["task"]["resumed_from"] + 5 for w in "ab"))
    for w in "ab":
        assert node(after, w)["pid"] == pids[w] and node(after, w)["restarts"] == 0  # same processes
        assert node(after, w)["task"]["resumed_from"] == counts[w]  # final checkpoint written on pause
    tree.stop()


def test_a_tree_whose_tasks_all_end_is_finished(system, tmp_path):
    tree = system.start(supervisor("root", [worker("a", tmp_path, limit=25), worker("b", tmp_path, limit=10)]))
    status = tree.wait_for(lambda s: s["state"] == "finished")
    assert [node(status, w)["state"] for w in "ab"] == ["finished", "finished"]
    assert read_sequence(tmp_path, "a") == list(range(25)) and read_sequence(tmp_path, "b") == list(range(10))


def test_a_task_factory_that_cannot_be_imported_pauses_the_tree_with_a_clear_reason(system, tmp_path):
    spec = supervisor("root", [WorkerSpec("w", TaskSpec("conduix_nowhere.tasks:make"))], max_restarts=1)
    tree = system.start(spec)
    status = tree.wait_for(lambda s: s["state"] == "paused", timeout=30)
    assert "cannot import task factory 'conduix_nowhere.tasks:make'" in status["reason"]
    assert node(status, "w")["restarts"] == 1
