"""Fixtures for checkpoint tests: checkpoints, the shared Redis, and a private Redis we may kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from conduix.supervision import free_port
from conduix.testing import eventually

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def make_checkpoint(pipeline: str, sources: dict[str, tuple[float, object]], *, timestamp: float | None = None,
                    processed: int = 0, stages: dict[str, object] | None = None) -> dict[str, object]:
    """A checkpoint of the documented shape; ``sources`` maps id -> (timestamp, position)."""
    stamps = [ts for ts, _ in sources.values()]
    return {
        "pipeline": pipeline,
        "timestamp": timestamp if timestamp is not None else max(stamps, default=time.time()),
        "processed_count": processed,
        "sources": {sid: {"timestamp": ts, "position": pos} for sid, (ts, pos) in sources.items()},
        "stages": stages or {},
    }


@pytest.fixture
def pipeline_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def shared_redis(pipeline_id: str) -> Iterator[redis.Redis]:
    """The machine's shared Redis; the test's pipeline key is removed afterwards."""
    client = redis.Redis.from_url(SHARED_REDIS_URL)
    client.ping()
    yield client
    client.delete(f"pipeline:{pipeline_id}:checkpoint")
    client.close()


class OwnRedis:
    """A redis-server of our own on a free loopback port: tests kill, stop and restart it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited")
            return bool(client.ping())

        try:
            eventually(up, 20, f"redis-server on port {self.port} to answer", ignore=(redis.ConnectionError,))
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def cont(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()
