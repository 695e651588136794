"""The actor system leaves nothing behind: no process, no listening socket; it listens on loopback only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import psutil
import pytest

from conduix.errors import SupervisionError
from conduix.supervision import SupervisionSystem, free_port
from conduix.supervision._process import group_members
from conduix.supervision.tree import iter_nodes
from conduix.testing import eventually
from tests.conftest import ROOT
from tests.core.supervision.conftest import producing, supervisor, worker

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def listening(pids: set[int]) -> list[psutil._common.sconn]:
    return [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.pid in pids]


def test_nothing_survives_the_system_and_everything_listens_on_loopback(tmp_path):
    with SupervisionSystem() as system:
        admin_port = system.admin_port
        tree = system.start(supervisor("root", [supervisor("sub", [worker("a", tmp_path)]),
                                                worker("b", tmp_path)]))
        status = tree.wait_for(lambda s: producing(s, "a", 5) and producing(s, "b", 5))
        (group,) = system._process_groups
        pids = set(group_members(group))
        assert {n["pid"] for n in iter_nodes(status)} <= pids  # admin, logger, 2 supervisors, 2 workers
        assert len(pids) >= 6
        sockets = listening(pids)
        assert admin_port in {c.laddr.port for c in sockets}
        assert {c.laddr.ip for c in sockets} == {"127.0.0.1"}
    eventually(lambda: not any(alive(pid) for pid in pids), timeout=10, what="actor processes gone")
    assert group_members(group) == []
    assert not [c for c in psutil.net_connections("tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == admin_port]


def test_an_error_inside_the_block_still_shuts_everything_down(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), SupervisionSystem() as system:
        tree = system.start(supervisor("root", [worker("a", tmp_path)]))
        tree.wait_for(lambda s: producing(s, "a", 1))
        (group,) = system._process_groups
        raise RuntimeError("boom")
    eventually(lambda: group_members(group) == [], timeout=10, what="actor processes gone")


OWNER = textwrap.dedent("""
    import sys, time
    from conduix.supervision import SupervisionSystem
    from tests.core.supervision.conftest import producing, supervisor, worker
    system = SupervisionSystem().__enter__()
    tree = system.start(supervisor("root", [worker("a", sys.argv[1]), worker("b", sys.argv[1])]))
    tree.wait_for(lambda s: producing(s, "a", 1) and producing(s, "b", 1))
    (group,) = system._process_groups
    print(group, system.admin_port, flush=True)
    time.sleep(600)
""")


def test_a_sigkilled_owner_takes_its_actor_system_along(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    group = None
    try:
        assert owner.stdout is not None
        group, admin_port = map(int, owner.stdout.readline().split())
        assert len(group_members(group)) >= 5
        owner.kill()
        owner.wait(10)
        eventually(lambda: group_members(group) == [], timeout=20, what="orphaned actor system gone")
        assert not [c for c in psutil.net_connections("tcp")
                    if c.status == psutil.CONN_LISTEN and c.laddr.port == admin_port]
        written = (tmp_path / "a.out").stat().st_size
        time.sleep(0.3)  # sleep-ok: nothing may be written meanwhile
        assert (tmp_path / "a.out").stat().st_size == written  # no orphaned worker writes on
    finally:
        owner.kill()
        owner.wait(10)
        if group is not None and group_members(group):
            os.killpg(group, signal.SIGKILL)  # do not leak processes when the test fails


def test_an_admin_port_in_use_is_refused_instead_of_joined(tmp_path):
    with SupervisionSystem() as first:
        first.start(supervisor("root", [worker("a", tmp_path)]))
        with pytest.raises(SupervisionError, match=f"admin port {first.admin_port} .* is in use"):
            SupervisionSystem(admin_port=first.admin_port).open()
    with SupervisionSystem(admin_port=free_port()) as chosen:
        tree = chosen.start(supervisor("root", [worker("b", tmp_path)]))
        tree.wait_for(lambda s: producing(s, "b", 1))


def test_a_chosen_port_taken_by_another_admin_meanwhile_is_not_joined(tmp_path, monkeypatch):
    with SupervisionSystem() as first:
        tree = first.start(supervisor("root", [worker("a", tmp_path)]))
        tree.wait_for(lambda s: producing(s, "a", 1))
        ports = iter([first.admin_port, free_port()])  # as if the first admin took the port after the probe
        monkeypatch.setattr("conduix.supervision.system.free_port", lambda host: next(ports))
        with SupervisionSystem() as second:
            assert second.admin_port != first.admin_port
            second.start(supervisor("root", [worker("b", tmp_path)])).wait_for(lambda s: producing(s, "b", 1))
        assert producing(tree.status(), "a", 1)  # the second system's shutdown left the first one's alone


SLOW_ADMIN = textwrap.dedent("""
    from conduix.errors import SupervisionError
    from conduix.supervision import SupervisionSystem
    try:
        SupervisionSystem(startup_timeout=0.001).open()
    except SupervisionError as exc:
        print(exc, flush=True)
""")


def marked(mark: str) -> list[int]:
    """Live processes whose environment holds ``mark`` (a fork keeps its parent's environment)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("CONDUIX_TEST_MARK") == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


def test_an_admin_that_does_not_answer_in_time_is_killed_and_the_error_says_how_long_it_waited(tmp_path):
    mark = str(uuid.uuid4())
    output = tmp_path / "output"
    with output.open("w") as out:  # a file, not a pipe: an admin left running would hold a pipe open
        subprocess.run([sys.executable, "-c", SLOW_ADMIN], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                       env={**os.environ, "CONDUIX_TEST_MARK": mark}, timeout=60, check=True)
    said = output.read_text()
    assert "cannot start the Thespian actor system (multiprocTCPBase, admin port" in said, said
    assert "waited up to 0.001 s for its admin" in said and "trying another port" in said, said
    try:
        eventually(lambda: marked(mark) == [], timeout=10, what="no process of the failed admin left")
    finally:
        for pid in marked(mark):  # do not leak processes when the test fails
            os.kill(pid, signal.SIGKILL)


def test_a_killed_root_supervisor_takes_its_workers_along_and_the_tree_says_so(tmp_path):
    with SupervisionSystem() as system:
        tree = system.start(supervisor("root", [worker("a", tmp_path), worker("b", tmp_path)]))
        status = tree.wait_for(lambda s: producing(s, "a", 1) and producing(s, "b", 1))
        os.kill(status["pid"], signal.SIGKILL)
        workers = [n["pid"] for n in iter_nodes(status) if n["kind"] == "worker"]
        eventually(lambda: not any(alive(pid) for pid in workers), timeout=10, what="workers died with root")
        assert not tree.root_alive()
        with pytest.raises(SupervisionError, match=r"root supervisor of tree 'root' \(process \d+\) is gone"):
            tree.status()
