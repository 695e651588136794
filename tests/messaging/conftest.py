"""Fixtures for the NATS and AMQP connector tests: the machine's servers, private NATS servers that
tests kill and restart, a TCP proxy that cuts the link to RabbitMQ, and running pipelines."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from conduix.config import pipeline_from_dict
from conduix.runtime import PipelineRun
from conduix.testing import eventually, test_registry
from tests.running import ConduixProcess, until

NATS_URL = os.environ.get("CONDUIX_TEST_NATS", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("CONDUIX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class NatsServer:
    """A private nats-server with JetStream (file storage) that a test may kill and restart."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.monitor_port = free_port()  # /healthz answers 200 once JetStream has recovered its streams
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = root / "nats.conf"
        store = root / "js"
        durable = f'jetstream {{ store_dir: "{store}", sync_interval: always }}\n'
        listen = f"port: {self.port}\nhost: 127.0.0.1\nhttp: 127.0.0.1:{self.monitor_port}\n"
        self.conf.write_text(f"{listen}{durable}")
        if subprocess.run(["nats-server", "-t", "-c", str(self.conf)], capture_output=True).returncode != 0:
            # nats-server < 2.10 has no sync_interval; it writes every message to the OS on arrival,
            # so a killed process (not a lost machine) keeps what it acked
            self.conf.write_text(f"{listen}jetstream {{ store_dir: \"{store}\" }}\n")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.root / "nats.log", "ab")
        self.proc = subprocess.Popen(["nats-server", "-c", str(self.conf)], stdout=log, stderr=log)
        healthz = f"http://127.0.0.1:{self.monitor_port}/healthz"
        eventually(lambda: port_open("127.0.0.1", self.port) and _answers_200(healthz), 15,
                   f"nats-server to listen and JetStream to be ready (log: {self.root / 'nats.log'})")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """The machine's NATS server, or a session-wide private one when it is not running."""
    host, port = NATS_URL.rsplit("//", 1)[1].split(":")
    if port_open(host, int(port)):
        yield NATS_URL
        return
    root = Path(tempfile.mkdtemp(prefix="conduix-nats-"))
    server = NatsServer(root)
    server.start()
    try:
        yield server.url
    finally:
        server.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A private NATS server for kill/restart tests."""
    server = NatsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The machine's RabbitMQ (TESTING.md); started with ``rabbitmq-server -detached`` when it is down."""
    if not port_open("127.0.0.1", 5672):
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
        eventually(lambda: port_open("127.0.0.1", 5672), 90, "RabbitMQ to listen on 5672")
    return AMQP_URL


class TcpProxy:
    """Forwards a local port to a server; ``cut()`` drops every connection and refuses new ones until
    ``restore()``: a broker outage as the client sees it, without stopping the shared broker."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._down = False
        self.restore()

    def restore(self) -> None:
        self._down = False
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self._down = True
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()


@pytest.fixture
def amqp_proxy(amqp_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5672))
    try:
        yield proxy
    finally:
        proxy.close()


def start_pipeline(config: dict[str, Any], state_dir: Path) -> PipelineRun:
    spec = pipeline_from_dict(config, registry=test_registry())
    return PipelineRun(spec, state_dir=state_dir).start()


def sink_of(run: PipelineRun, sink_id: str) -> Any:
    return run.nodes[sink_id].component


def stop(run: PipelineRun, timeout: float = 30) -> None:
    run.stop()
    assert run.join(timeout), f"pipeline did not stop: {run.status()}"


def run_async(coro: Any) -> Any:
    """Run a plain-client coroutine (the 'other side' of a test) on a fresh loop."""
    return asyncio.run(coro)


def ids_in(path: Path) -> list[int]:
    """The ids of the records in a JSON lines file (a line cut short by a kill left out)."""
    if not path.exists():
        return []
    return [orjson.loads(line)["id"] for line in path.read_bytes().splitlines() if line.endswith(b"}")]


def kill_mid_stream_then_resume(proc: ConduixProcess, out: Path, n: int) -> list[int]:
    """SIGKILL the run once it wrote 300 of the ``n`` records to ``out``, start it again: every record
    arrives. Returns the ids written (duplicates kept)."""
    proc.start()
    until(proc, lambda: len(ids_in(out)) >= 300)
    proc.kill()
    assert len(ids_in(out)) < n, "the first run must be killed mid-stream"
    proc.start()
    until(proc, lambda: set(ids_in(out)) >= set(range(n)), 90)
    assert proc.stop(30) == 0, proc.output()
    return ids_in(out)
