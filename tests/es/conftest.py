"""Fixtures for the Elasticsearch connector tests: a real Elasticsearch-compatible server (noida-db) on a
free loopback port for the session, a client, unique index names, and a fault-injecting proxy."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.es.faultproxy import FaultProxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _noida_db() -> str:
    found = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    if not os.path.exists(found):
        pytest.fail("noida-db is not installed: pip install -e './conduix-connectors-es[test]'")
    return found


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of a noida-db Elasticsearch endpoint started for this session."""
    import urllib.request

    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="conduix-es-")
    log = open(os.path.join(data_dir, "server.log"), "wb")
    proc = subprocess.Popen([_noida_db(), "start", "--only", "elasticsearch", "--elasticsearch-port", str(port),
                             "--data-dir", data_dir], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
            pytest.fail(f"noida-db did not start: {Path(data_dir, 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def es(es_url: str):
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def index_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def proxy(es_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(es_url)
    try:
        yield p
    finally:
        p.close()
