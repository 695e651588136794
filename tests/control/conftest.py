"""Fixtures for the control plane tests: own Redis servers, databases, control planes and agents as processes.

Every server a test may kill is its own (free port, temp dir); the shared Redis on 6379 is never touched.
PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306, root) get a uniquely named
database per test, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from conduix import testing
from tests.running import read_jsonl

# Short timings so failover happens in seconds; agents get theirs from the control plane.
FAST_CONTROL = {
    "CONDUIX_CONTROL_HEARTBEAT_INTERVAL": "0.5",
    "CONDUIX_CONTROL_HEARTBEAT_TIMEOUT": "6",
    "CONDUIX_CONTROL_AGENT_LEASE": "4",
    "CONDUIX_CONTROL_POLL_INTERVAL": "1",
    "CONDUIX_CONTROL_LEADER_TTL": "3",
    "CONDUIX_CONTROL_TICK": "0.5",
    "CONDUIX_CONTROL_ACK_TIMEOUT": "3",
    "CONDUIX_REDIS_BREAKER_FAIL_MAX": "2",
    "CONDUIX_REDIS_BREAKER_RESET_TIMEOUT": "1",
    "CONDUIX_REDIS_BACKOFF_CAP": "0.5",
    "CONDUIX_REDIS_SOCKET_TIMEOUT": "0.5",
    "CONDUIX_CONTROL_ADMIN_PASSWORD": "test-admin-password",  # the local admin, created at first start
}
ADMIN_PASSWORD = FAST_CONTROL["CONDUIX_CONTROL_ADMIN_PASSWORD"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    """``conduix.testing.eventually``, also taking a refused HTTP or Redis connection for "not yet"."""
    return testing.eventually(check, timeout, what, interval=0.25, ignore=(httpx.HTTPError, redis.RedisError))


class RedisServer:
    """A redis-server of our own on a free port, which tests may kill, pause and restart."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.port = free_port()
        self.extra = list(extra)  # more redis-server options, e.g. --aclfile
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(lambda: redis.Redis(port=self.port, socket_timeout=0.5).ping(), timeout=10, what="redis up")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH (see TESTING.md)")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


class Proc:
    """A ``conduix`` subprocess in its own process group, with its log in a file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "conduix", "--log-level", "info", *args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal_group(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait()
        self.signal_group(signal.SIGKILL)  # workers left behind, if any
        self._log.close()


class ControlPlane(Proc):
    def __init__(self, db_url: str, redis_url: str | None, log: Path, env: dict[str, str],
                 password: Callable[[], str] = lambda: ADMIN_PASSWORD) -> None:
        self.name = log.stem
        for attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            args = ["control", "serve", "--port", str(self.port), "--db", db_url]
            if redis_url:
                args += ["--redis-url", redis_url]
            super().__init__(args, log, env)
            self.http = httpx.Client(base_url=self.url, timeout=10)
            eventually(lambda: self.proc.poll() is not None or self.http.get("/health").status_code == 200,
                       timeout=30, what=f"control plane up (log: {log})")
            if self.proc.poll() is None:
                break
            # free_port() lets its port go before the server binds it: another process may take it meanwhile
            self.http.close()
            self._log.close()
            if "address already in use" not in self.log() or attempt == 2:
                raise AssertionError(f"the control plane exited with code {self.proc.returncode}:\n{self.log()}")
        # like the web UI: the local admin's session cookie
        login = self.http.post("/auth/login", json={"username": "admin", "password": password()})
        assert login.status_code == 200, login.text
        self._tokens: dict[str, str] = {}

    def token(self, role: str = "admin") -> str:
        """An API token with ``role`` (one per role and control plane), e.g. for the CLI."""
        if role not in self._tokens:
            response = self.http.post("/auth/tokens", json={"name": f"test-{role}", "role": role})
            assert response.status_code == 201, response.text
            self._tokens[role] = response.json()["token"]
        return self._tokens[role]

    def agent_token(self, agent_id: str) -> str:
        """A token of role agent, bound to ``agent_id`` (one per agent id and control plane)."""
        key = f"agent:{agent_id}"
        if key not in self._tokens:
            response = self.http.post("/auth/tokens", json={"name": agent_id, "role": "agent"})
            assert response.status_code == 201, response.text
            self._tokens[key] = response.json()["token"]
        return self._tokens[key]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body if body is not None else {})

    def put_pipeline(self, name: str, yaml_text: str, **extra: Any) -> Any:
        response = self.http.put(f"/pipelines/{name}", json={"yaml": yaml_text, **extra})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def agent(self, agent_id: str) -> dict[str, Any]:
        return dict(self.get(f"/agents/{agent_id}"))

    def runs(self, pipeline: str) -> list[dict[str, Any]]:
        return list(self.get("/runs", pipeline=pipeline))

    def stop(self) -> None:
        super().stop()
        self.http.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Any]:
    """Factories for control planes and agents as real processes; everything is stopped afterwards."""
    started: list[Proc] = []
    env = {**os.environ, **FAST_CONTROL, "CONDUIX_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}

    class Stack:
        root = tmp_path

        def control(self, db_url: str | None = None, redis_url: str | None = None,
                    name: str = "control", extra_env: dict[str, str] | None = None,
                    generated_password: bool = False) -> ControlPlane:
            """A control plane, signed in as admin; ``generated_password``: the admin's password is the one it
            generates at first start (read from its file), not CONDUIX_CONTROL_ADMIN_PASSWORD."""
            full_env = {**env, **(extra_env or {})}
            password_file = tmp_path / "state" / "control" / "admin-password"

            def password() -> str:
                return password_file.read_text().strip() if generated_password else ADMIN_PASSWORD

            if generated_password:
                full_env.pop("CONDUIX_CONTROL_ADMIN_PASSWORD")
            cp = ControlPlane(db_url or f"sqlite:///{tmp_path / 'control.db'}", redis_url,
                              tmp_path / f"{name}.log", full_env, password)
            started.append(cp)
            return cp

        def agent(self, cp: ControlPlane, agent_id: str, redis_url: str | None = None, *extra: str,
                  allow_test_folder: bool = True) -> Proc:
            """An agent process; its token in its environment (as the docs advise: not visible in ``ps``).

            Its state folder and log are the agent id's (a restarted agent finds its state again); agents of a
            second control plane with the same id have their own (two processes never share a log file).
            """
            stem = f"agent-{agent_id}" if cp.name == "control" else f"agent-{cp.name}-{agent_id}"
            args = ["agent", "start", "--control-url", cp.url, "--agent-id", agent_id,
                    "--state-dir", str(tmp_path / stem)]
            if allow_test_folder:  # the tests' pipelines read and write files in the test's folder
                args += ["--allow-path", str(tmp_path)]
            if redis_url:
                args += ["--redis-url", redis_url]
            proc = Proc(args + list(extra), tmp_path / f"{stem}.log",
                        {**env, "CONDUIX_CONTROL_TOKEN": cp.agent_token(agent_id)})
            started.append(proc)
            eventually(lambda: any(a["id"] == agent_id and a["status"] == "online" for a in cp.get("/agents")),
                       timeout=30, what=f"agent {agent_id} registered")
            return proc

    yield Stack()
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Any]:
    """The real OIDC provider (tests/control/oidc.py), its users' claims set by the test."""
    from tests.control.oidc import Provider

    p = Provider(tmp_path)
    yield p
    p.close()


# -- databases --

def _postgres_url(database: str) -> str:
    return f"postgresql+psycopg://postgres:root@127.0.0.1:5432/{database}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    name = f"cx_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_postgres_url("test").replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _postgres_url(name)
    with psycopg.connect(_postgres_url("test").replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    import pymysql

    name = f"cx_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def generate_pipeline(name: str, out: Path, *, count: int, rate: float, interval: float = 0.3,
                      supervised: bool = False) -> str:
    """A pipeline numbering its records (``seq``) and resuming from its checkpoint, written to ``out``;
    ``supervised``: with a ``supervision:`` block (its agent runs it under a supervision tree)."""
    supervision = "supervision: {max_restarts: 3, within_seconds: 60}\n" if supervised else ""
    return f"""version: 1
name: {name}
{supervision}settings:
  batch_size: 10
  checkpoint: {{interval: {interval}}}
sources:
  numbers: {{type: generate, count: {count}, rate: {rate}, resume: true}}
sinks:
  out: {{type: file, inputs: [numbers], path: {out}}}
"""


def read_seqs(path: Path) -> list[int]:
    """The ``seq`` of every record a pipeline wrote to ``path`` so far (complete lines: it may be writing)."""
    return [record["seq"] for record in read_jsonl(path)]
