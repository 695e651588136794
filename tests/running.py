"""Running ``conduix run`` as a user does, in a subprocess that a test stops (SIGTERM) or kills (SIGKILL), and
loading the files of examples/ for the tests that run them (tests/test_examples_run.py checks every example
is run by a test)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduix.testing import eventually

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load_example(name: str) -> dict[str, Any]:
    """The pipeline of ``examples/NAME`` as a dict, for a test to point at its own servers and names (what
    the example does, its stages and options, stays as written)."""
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


class ConduixProcess:
    """``conduix run FILE --no-progress`` as a subprocess (working directory ``cwd``, the repository's unless
    given; extra environment ``env``), its output in ``directory/conduix.log``."""

    def __init__(self, config: dict[str, Any], directory: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.file = directory / f"{config.get('name', 'pipeline')}.yaml"
        self.file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.state_dir = directory / "state"
        self.log = directory / "conduix.log"
        self.cwd = cwd or ROOT
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ConduixProcess:
        env = {**os.environ, "CONDUIX_STATE_DIR": str(self.state_dir), **self.env}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(self.file), "--no-progress"],
                                         cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM: drain, flush, final checkpoint; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"conduix run did not stop within {timeout}s:\n{self.output()}") from None

    def wait(self, timeout: float = 120) -> int:
        """The exit code of a run that ends by itself (its sources are finite)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"conduix run did not end within {timeout}s:\n{self.output()}") from None

    def running(self) -> bool:
        """Still running; a run that ended early fails the test at once with its output (inside ``eventually``
        too: not an AssertionError, which means "not yet" there)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"conduix run ended with code {self.proc.returncode}:\n{self.output()}")
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def checkpoint(self) -> dict[str, Any] | None:
        files = list((self.state_dir / "checkpoints").glob("*.json"))
        return json.loads(files[0].read_text()) if files else None


ConduixProcessFactory = Callable[..., ConduixProcess]


@pytest.fixture
def conduix_process(tmp_path: Path) -> Iterator[ConduixProcessFactory]:
    """``conduix_process(config, cwd=..., env=...)``: a ConduixProcess in this test's folder, killed at the end
    of the test if it still runs."""
    started: list[ConduixProcess] = []

    def make(config: dict[str, Any], **options: Any) -> ConduixProcess:
        proc = ConduixProcess(config, tmp_path, **options)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)


def until(proc: ConduixProcess, check: Callable[[], Any], timeout: float = 60, **options: Any) -> Any:
    """``eventually(check)`` while ``proc`` runs (a run that ends fails at once), polling every 0.25 s (checks
    that ask a server open a connection each time); fails with the run's output."""
    return eventually(lambda: proc.running() and check(), timeout, proc.output, interval=0.25, **options)


def complete_lines(path: Path) -> list[str]:
    """The lines of a file that a running process appends to, up to its last newline: a reader can see a write
    half done (the kernel copies it a page at a time), and a half line is no JSON. Empty while it does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON lines file (none while it does not exist), which a running process may append to."""
    return [json.loads(line) for line in complete_lines(path)]


def worker_status(state_dir: Path, name: str) -> dict[str, dict[str, Any]]:
    """The workers of supervised run ``name`` by id, as its status file in ``state_dir`` shows them now (none
    while there is no file yet)."""
    try:
        tree = json.loads((state_dir / "status" / f"{name}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    found: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any]) -> None:
        for child in node.get("children") or []:
            if child.get("kind") == "supervisor":
                walk(child)
            else:
                found[child["id"]] = child

    walk(tree)
    return found
