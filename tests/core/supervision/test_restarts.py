"""Real actor processes: workers SIGKILLed, raising and hanging; restarts by strategy; no lost record."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from conduix.supervision.testing import read_sequence
from conduix.testing import eventually
from tests.core.supervision.conftest import node, producing, supervisor, worker

pytestmark = pytest.mark.slow


def assert_no_gap(directory, worker_id):
    written = read_sequence(directory, worker_id)
    assert written, f"{worker_id} wrote nothing"
    assert set(written) == set(range(max(written) + 1)), f"{worker_id} lost records"


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [
        ("one_for_one", ["b"]),
        ("one_for_all", ["a", "b", "c"]),
        ("rest_for_one", ["b", "c"]),
    ],
)
def test_sigkilled_worker_is_restarted_by_strategy(system, tmp_path, strategy, restarted):
    tree = system.start(supervisor("root", [worker(w, tmp_path) for w in "abc"], strategy=strategy))
    before = tree.wait_for(lambda s: all(producing(s, w, 20) for w in "abc"))
    pids = {w: node(before, w)["pid"] for w in "abc"}
    first_starts = {w: node(before, w)["start_seq"] for w in "abc"}

    os.kill(pids["b"], signal.SIGKILL)
    after = tree.wait_for(
        lambda s: all(node(s, w)["restarts"] == 1 and producing(s, w, 5) for w in restarted)
    )

    for w in "abc":
        entry = node(after, w)
        if w in restarted:
            assert entry["pid"] != pids[w] and entry["start_seq"] > max(first_starts.values())
            assert entry["task"]["resumed_from"] > 0  # resumed from its checkpoint
            eventually(lambda pid=pids[w]: not psutil.pid_exists(pid) or
                       psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, what=f"old {w} gone")
        else:
            assert entry["pid"] == pids[w] and entry["restarts"] == 0
    new_order = sorted(restarted, key=lambda w: node(after, w)["start_seq"])
    assert new_order == restarted  # restarted in the order the children are declared
    assert "exited unexpectedly" in node(after, "b")["last_failure"]
    [event] = after["events"]
    assert event["child"] == "b" and event["restarting"] == restarted and event["delay"] == pytest.approx(0.05)
    assert after["restarts"] == len(restarted)

    tree.stop()
    for w in "abc":
        assert_no_gap(tmp_path, w)


def test_worker_whose_task_raises_reports_and_is_restarted(system, tmp_path, log_file):
    tree = system.start(supervisor("root", [worker("a", tmp_path, fail_at=30, fail_once=True)]))
    status = tree.wait_for(lambda s: node(s, "a")["restarts"] == 1 and producing(s, "a", 10))
    assert "RuntimeError: a: injected failure at record 30" in node(status, "a")["last_failure"]
    tree.stop()
    assert_no_gap(tmp_path, "a")
    assert max(read_sequence(tmp_path, "a")) > 30
    eventually(lambda: "worker a failed: RuntimeError: a: injected failure" in log_file.read_text(),
               what="failure logged")


def test_hung_worker_is_killed_after_its_heartbeat_timeout_and_restarted(system, tmp_path):
    spec = supervisor("root", [worker("a", tmp_path, fail_at=20, fail_mode="hang", fail_once=True,
                                      heartbeat_timeout=1.5),
                               worker("b", tmp_path)])
    tree = system.start(spec)
    first = tree.wait_for(lambda s: producing(s, "b", 1) and node(s, "a").get("pid") is not None)
    hung_pid = node(first, "a")["pid"]
    status = tree.wait_for(lambda s: node(s, "a")["restarts"] == 1 and producing(s, "a", 10), timeout=40)
    assert "no heartbeat" in node(status, "a")["last_failure"]
    assert node(status, "b")["restarts"] == 0
    eventually(lambda: not psutil.pid_exists(hung_pid) or
               psutil.Process(hung_pid).status() == psutil.STATUS_ZOMBIE, what="hung worker killed")
    tree.stop()
    assert_no_gap(tmp_path, "a")


def test_killed_child_supervisor_takes_its_workers_along_and_is_restarted(system, tmp_path):
    sub = supervisor("sub", [worker("w1", tmp_path), worker("w2", tmp_path)])
    tree = system.start(supervisor("root", [sub, worker("x", tmp_path)]))
    before = tree.wait_for(lambda s: all(producing(s, w, 5) for w in ("w1", "w2", "x")))
    old = {n: node(before, n)["pid"] for n in ("sub", "w1", "w2", "x")}

    os.kill(old["sub"], signal.SIGKILL)
    for name in ("w1", "w2"):  # parent-death signal: no orphaned worker keeps writing
        eventually(lambda pid=old[name]: not psutil.pid_exists(pid) or
                   psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, what=f"{name} died with sub")
    after = tree.wait_for(lambda s: node(s, "sub")["restarts"] == 1
                          and all(producing(s, w, 5) for w in ("w1", "w2")))
    assert {node(after, n)["pid"] for n in ("sub", "w1", "w2")}.isdisjoint(old.values())
    assert node(after, "x")["pid"] == old["x"] and node(after, "x")["restarts"] == 0
    tree.stop()
    for w in ("w1", "w2", "x"):
        assert_no_gap(tmp_path, w)
