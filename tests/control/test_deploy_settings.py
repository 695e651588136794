"""What deployments configure the control plane and agents with: a mounted settings file (``--config``,
``$CONDUIX_CONFIG``), the agents' tokens (``CONDUIX_CONTROL_AGENT_TOKENS``) and a directory of
pipeline files (``--pipelines-dir``, a ConfigMap)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from fastapi.testclient import TestClient

from conduix.errors import ConfigError
from conduix_control.api import create_app
from conduix_control.auth import AuthSettings
from conduix_control.cli import agent as agent_group
from conduix_control.cli import control as control_group
from conduix_control.db import Database
from conduix_control.service.pipeline_files import apply_pipeline_files
from conduix_control.settings import ControlSettings

SERVE = control_group.commands["serve"]
START = agent_group.commands["start"]
TICKER = """version: 1
name: ticker
sources:
  numbers: {type: generate, count: 3}
sinks:
  out: {type: blackhole, inputs: [numbers]}
"""


def parsed(command: click.Command, *args: str) -> dict:
    """The parameters ``command`` would run with, without running it."""
    with command.make_context(command.name or "x", list(args)) as ctx:
        return dict(ctx.params)


# -- the settings file --

def test_settings_file_sets_defaults_below_environment_and_options(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conduix.yaml"
    config.write_text("control:\n  port: 9001\n  redis-url: redis://file:6379/0\n  heartbeat_timeout: 45\n"
                      "  pipelines_dir: /etc/conduix/pipelines\n"
                      "agent:\n  control_url: http://control:8470\n  label: {zone: eu, disk: ssd}\n  capacity: 8\n")
    for name in ("CONDUIX_REDIS_URL", "CONDUIX_CONTROL_PORT", "CONDUIX_CONTROL_HEARTBEAT_TIMEOUT", "CONDUIX_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    params = parsed(SERVE, "--config", str(config))
    assert params["port"] == 9001 and params["redis_url"] == "redis://file:6379/0"
    assert params["heartbeat_timeout"] == 45.0 and params["pipelines_dir"] == Path("/etc/conduix/pipelines")
    monkeypatch.setenv("CONDUIX_REDIS_URL", "redis://env:6379/0")  # the environment wins over the file
    monkeypatch.setenv("CONDUIX_CONFIG", str(config))  # and the file can come from the environment
    params = parsed(SERVE, "--port", "9002")  # an option wins over both
    assert params["port"] == 9002 and params["redis_url"] == "redis://env:6379/0"
    agent = parsed(START)
    assert agent["control_url"] == "http://control:8470" and agent["capacity"] == 8
    assert agent["labels"] == ("zone=eu", "disk=ssd")


@pytest.mark.parametrize(("text", "complaint"), [
    ("control:\n  prot: 9000\n", "unknown option 'prot' in section 'control'"),
    ("control:\n  prot: 9000\n", "did you mean 'port'?"),
    ("controller: {}\n", "unknown section(s) 'controller'"),
    ("control: [1, 2]\n", "section 'control' must be a mapping"),
    ("control:\n  port: [1, 2]\n", "must be a single value"),
    ("control: {port: 1\n", "not valid YAML"),
])
def test_settings_file_errors_name_the_key_and_the_fix(tmp_path: Path, text: str, complaint: str) -> None:
    config = tmp_path / "conduix.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parsed(SERVE, "--config", str(config))
    assert complaint in str(caught.value)
    assert str(config) in str(caught.value)


def test_cli_reports_a_bad_settings_file_in_one_line(tmp_path: Path, cli) -> None:
    config = tmp_path / "conduix.yaml"
    config.write_text("agent:\n  capacty: 2\n  control_ur: http://x\n")
    result = cli("agent", "start", "--config", str(config))
    assert result.returncode == 2
    assert "capacty" in result.stderr and "did you mean 'capacity'?" in result.stderr
    assert "control_ur" in result.stderr  # every problem at once
    assert "Traceback" not in result.stderr


# -- the agents' tokens --

def app(tmp_path: Path, **auth: str) -> object:
    return create_app(f"sqlite:///{tmp_path / 'c.db'}", settings=ControlSettings(), run_leader=False,
                      auth=AuthSettings.from_env({}, admin_password="the-admin-password", state_dir=tmp_path, **auth))


@pytest.fixture
def token() -> str:
    return "cdx_" + secrets.token_urlsafe(32)


def register(c: TestClient, agent_id: str, token: str) -> int:
    return c.post("/agents/register", headers={"Authorization": f"Bearer {token}"},
                  json={"id": agent_id, "host": "h", "labels": {}, "capacity": 1, "mode": "rest"}).status_code


def test_agent_tokens_from_the_environment_are_bound_to_their_agents(tmp_path: Path, token: str) -> None:
    other = "cdx_" + secrets.token_urlsafe(32)
    tokens = f"a1={token}, a2={other}"
    for _ in range(2):  # the second start finds them stored: still two tokens
        with TestClient(app(tmp_path, agent_tokens=tokens)) as c:
            assert register(c, "a1", token) < 300 and register(c, "a2", other) < 300
            assert register(c, "a2", token) == 403  # a1's token works for a1 only
            assert c.get("/pipelines", headers={"Authorization": f"Bearer {token}"}).status_code == 403
            assert c.post("/auth/login", json={"username": "admin", "password": "the-admin-password"}).is_success
            stored = c.get("/auth/tokens").json()
    assert sorted((t["name"], t["role"], t["agent_id"], t["created_by"]) for t in stored) == [
        ("a1", "agent", "a1", "deployment"), ("a2", "agent", "a2", "deployment")]
    assert token not in repr(AuthSettings.from_env({"CONDUIX_CONTROL_AGENT_TOKENS": tokens}))


def test_a_revoked_agent_token_stays_revoked(tmp_path: Path, token: str) -> None:
    with TestClient(app(tmp_path, agent_tokens=f"a1={token}")) as c:
        c.post("/auth/login", json={"username": "admin", "password": "the-admin-password"})
        [stored] = c.get("/auth/tokens").json()
        assert c.delete(f"/auth/tokens/{stored['id']}").status_code == 204
    with TestClient(app(tmp_path, agent_tokens=f"a1={token}")) as c:  # restarted with the same variable
        assert register(c, "a1", token) == 401


def test_instances_starting_at_once_store_one_agent_token(tmp_path: Path, token: str) -> None:
    from conduix_control.auth.tokens import ensure_token
    from conduix_control.db.models import ApiToken

    db = Database(f"sqlite:///{tmp_path / 'c.db'}").open()
    barrier = threading.Barrier(4)
    created: list[bool] = []

    def start() -> None:
        barrier.wait()
        with db.session() as s:
            created.append(ensure_token(s, "a1", token, created_by="deployment")[1])

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        assert s.query(ApiToken).count() == 1
    assert sorted(created) == [False, False, False, True]
    db.close()


@pytest.mark.parametrize(("tokens", "complaint"), [
    ("a1=changeme", "at least 32 random characters"),
    ("a1=cdx_short", "at least 32 random characters"),
    ("a1", "is not AGENT_ID=TOKEN"),
    ("bad id!=cdx_" + "x" * 40, "may use only letters"),
])
def test_a_bad_agent_token_stops_the_start(tmp_path: Path, tokens: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        app(tmp_path, agent_tokens=tokens)
    assert complaint in str(caught.value)
    assert "changeme" not in str(caught.value) and "cdx_short" not in str(caught.value)


# -- pipelines from a directory --

@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'p.db'}").open()
    yield database
    database.close()


def versions(db: Database, name: str) -> list[tuple[int, str | None]]:
    from sqlalchemy import select

    from conduix_control.db.models import PipelineVersion

    with db.session() as s:
        rows = s.scalars(select(PipelineVersion).where(PipelineVersion.pipeline == name)
                         .order_by(PipelineVersion.version)).all()
        return [(r.version, r.comment) for r in rows]


def test_pipelines_directory_stores_new_versions_only(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "pipelines"
    directory.mkdir()
    (directory / "ticker.yaml").write_text(TICKER)
    (directory / "other.yml").write_text(TICKER.replace("name: ticker", "name: counter"))
    (directory / "README.txt").write_text("not a pipeline")
    (directory / "..data").mkdir()  # what a Kubernetes ConfigMap volume holds besides the files
    (directory / "..data" / "ticker.yaml").write_text("garbage: [")
    assert apply_pipeline_files(db, directory) == {"counter": True, "ticker": True}
    assert apply_pipeline_files(db, directory) == {"counter": False, "ticker": False}  # a restart
    (directory / "ticker.yaml").write_text(TICKER.replace("count: 3", "count: 4"))
    assert apply_pipeline_files(db, directory)["ticker"] is True
    assert versions(db, "ticker") == [(1, "from ticker.yaml"), (2, "from ticker.yaml")]


def test_one_invalid_file_stores_nothing_and_names_every_problem(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "pipelines"
    directory.mkdir()
    (directory / "good.yaml").write_text(TICKER.replace("name: ticker", "name: good"))
    (directory / "bad.yaml").write_text(TICKER.replace("name: ticker", "name: bad").replace("count: 3", "cont: 3"))
    (directory / "twin.yaml").write_text(TICKER.replace("name: ticker", "name: good"))
    with pytest.raises(ConfigError) as caught:
        apply_pipeline_files(db, directory)
    message = str(caught.value)
    assert "bad.yaml" in message and "cont" in message
    assert "twin.yaml" in message and "also defined by good.yaml" in message
    assert versions(db, "good") == []


def test_missing_pipelines_directory_is_a_clear_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        apply_pipeline_files(db, tmp_path / "nope")


# -- upgrades --

def test_migrate_brings_the_schema_to_this_version(tmp_path: Path, cli) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = cli("control", "migrate", "--db", url)
    assert first.returncode == 0, first.stderr
    assert "database at revision" in first.stdout and "(was empty)" in first.stdout
    again = cli("control", "migrate", "--db", url)
    assert again.returncode == 0 and "(was" not in again.stdout
    assert again.stdout.split()[3] == first.stdout.split()[3]  # the same head revision


# -- the readiness probe --

def test_ready_follows_the_database(tmp_path: Path) -> None:
    with TestClient(app(tmp_path)) as c:
        assert c.get("/ready").json() == {"status": "ready"}  # public, like /health: probes carry no token
        c.app.state.plane.db.engine.dispose()
        (tmp_path / "c.db").unlink()  # the database is gone: SQLite cannot open it read-only
        (tmp_path / "c.db").mkdir()
        answer = c.get("/ready")
        assert answer.status_code == 503
        assert answer.json()["status"] == "not ready" and answer.json()["reasons"][0].startswith("database: ")
