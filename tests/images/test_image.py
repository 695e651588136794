"""The built image ($CONDUIX_TEST_IMAGE, made by ``nox -s images``) run here: a control plane and an agent from
it, configured as docker-compose.yml and the Helm chart configure them (environment, a mounted conduix.yaml,
a mounted pipelines directory, MySQL/MariaDB and Redis), run a pipeline; their /health and /metrics answer."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conduix.testing import eventually as conduix_eventually
from tests.images.containers import Container, image_config

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("CONDUIX_TEST_IMAGE", "")
AGENT_HTTP_PORT_ENV = "CONDUIX_AGENT_METRICS_PORT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], Any], *, timeout: float = 60.0, what: str = "") -> Any:
    """conduix.testing.eventually, with a connection refused or an HTTP error meaning "not yet"."""
    return conduix_eventually(check, timeout, what, interval=0.5, ignore=(httpx.HTTPError, OSError))


@pytest.fixture(scope="module")
def image() -> str:
    if not IMAGE:
        pytest.fail("set CONDUIX_TEST_IMAGE to the image to test (`nox -s images` builds and sets it)")
    return IMAGE


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of our own, as the compose file's redis service (append-only file)."""
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
                             "--appendonly", "yes", "--save", ""], stdout=subprocess.DEVNULL)
    eventually(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
               what="redis-server answers")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def mysql_url() -> Iterator[str]:
    """A database of its own on the machine's MariaDB (root, no password), as the compose file's MySQL."""
    name = f"conduix_image_{uuid.uuid4().hex[:10]}"
    client = ["mariadb", "-uroot", "-h127.0.0.1", "-P3306"]
    subprocess.run([*client, "-e", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield f"mysql://root@127.0.0.1:3306/{name}"
    subprocess.run([*client, "-e", f"DROP DATABASE IF EXISTS {name}"], capture_output=True)


@pytest.fixture(scope="module")
def stack(image: str, redis_url: str, mysql_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Control plane and one agent, each in its own container of the image, sharing only the network."""
    tmp = tmp_path_factory.mktemp("stack")
    control_port, agent_port = free_port(), free_port()
    token = "cdx_" + secrets.token_urlsafe(32)
    agent_id = f"image-agent-{uuid.uuid4().hex[:6]}"
    settings = tmp / "conduix.yaml"  # the mounted settings file, as the chart's ConfigMap
    settings.write_text(yaml.safe_dump({
        "control": {"port": control_port, "pipelines_dir": "/etc/conduix/pipelines", "heartbeat_interval": 1,
                    "tick": 0.5, "poll_interval": 1},
        "agent": {"control_url": f"http://127.0.0.1:{control_port}", "capacity": 2, "label": {"zone": "test"}},
    }))
    pipelines = tmp / "pipelines"
    pipelines.mkdir()
    shutil.copy(ROOT / "examples" / "control_plane_ticker.yaml", pipelines / "ticker.yaml")
    out = tmp / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's user (10001) writes the pipeline's output here
    common = {"CONDUIX_REDIS_URL": redis_url}
    control = Container(image, env={**common, "CONDUIX_CONTROL_DB": mysql_url,
                                    "CONDUIX_CONTROL_ADMIN_PASSWORD": "image-test-password",
                                    "CONDUIX_CONTROL_AGENT_TOKENS": f"{agent_id}={token}"},
                        volumes={settings: "/etc/conduix/conduix.yaml", pipelines: "/etc/conduix/pipelines"})
    agent = Container(image, env={**common, "CONDUIX_CONTROL_TOKEN": token, AGENT_HTTP_PORT_ENV: str(agent_port),
                                  "CONDUIX_HEALTH_URL": f"http://127.0.0.1:{agent_port}/health",
                                  "TICKER_OUT": "/out/ticker.jsonl", "CONDUIX_AGENT_ALLOW_PATHS": "/out"},
                      volumes={settings: "/etc/conduix/conduix.yaml", out: "/out"})
    base = f"http://127.0.0.1:{control_port}"
    try:
        control.start(*control.entrypoint("control", "serve"), log=tmp / "control.log")
        eventually(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200, timeout=180,
                   what=f"the control plane's /health (log: {tmp / 'control.log'})")
        admin = control.run("conduix", "control", "tokens", "create", "image-test", "--role", "admin",
                            "--db", mysql_url, check=True).stdout.strip()
        agent.start(*agent.entrypoint("agent", "start", "--agent-id", agent_id), log=tmp / "agent.log")
        yield {"control": control, "agent": agent, "base": base, "agent_base": f"http://127.0.0.1:{agent_port}",
               "agent_id": agent_id, "admin": admin, "out": out, "tmp": tmp}
    finally:
        agent.remove()
        control.remove()


def test_image_config(image: str) -> None:
    """Non-root, tini as PID 1 (reaps the agents' workers), a healthcheck, settings by file and environment."""
    config = image_config(image)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][:2] == ["/usr/bin/tini", "--"]
    assert config["Healthcheck"]["Test"] == ["CMD", "conduix-healthcheck"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CONDUIX_CONFIG"] == "/etc/conduix/conduix.yaml"
    assert env["CONDUIX_STATE_DIR"] == "/var/lib/conduix"
    assert env["CONDUIX_CONTROL_HOST"] == env["CONDUIX_AGENT_METRICS_HOST"] == "0.0.0.0"
    print(f"image size: {config['Size'] / 1e6:.0f} MB")


def test_image_contents(image: str) -> None:
    """The alert rules, the examples and the web UI are inside; every connector is installed."""
    c = Container(image)
    try:
        rules = c.run("cat", "/usr/share/conduix/alerts/conduix.rules.yml", check=True).stdout
        assert rules == (ROOT / "deploy" / "alerts" / "conduix.rules.yml").read_text()
        assert c.run("test", "-f", "/usr/share/conduix/examples/quickstart.yaml").returncode == 0
        plugins = json.loads(c.run("conduix", "plugins", "--json", check=True).stdout)["components"]
        distributions = {p["type"]: p["distribution"] for p in plugins if p["kind"] == "sink"}
        assert {t: distributions.get(t) for t in ("kafka", "elasticsearch", "s3", "nats", "amqp")} == {
            "kafka": "conduix-connectors-kafka", "elasticsearch": "conduix-connectors-es",
            "s3": "conduix-connectors-s3", "nats": "conduix-connectors-messaging",
            "amqp": "conduix-connectors-messaging"}
        found = c.run("sh", "-c", "ls /opt/conduix/lib/python3*/site-packages/conduix_control/webui/dist/index.html")
        assert found.returncode == 0, found.stderr
        assert c.run("id", "-u", check=True).stdout.strip() == "10001"
    finally:
        c.remove()


def test_tini_adopts_orphans(image: str) -> None:
    """A worker's orphaned child is re-parented to tini, which reaps it (no zombies in long-lived agents)."""
    script = (
        "import os, time\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    if os.fork() == 0:\n"
        "        deadline = time.monotonic() + 20\n"
        "        while os.getppid() != TINI and time.monotonic() < deadline: time.sleep(0.05)\n"
        "        os.write(w, str(os.getppid()).encode()); os._exit(0)\n"
        "    os._exit(0)\n"
        "os.wait(); os.close(w); print(os.getppid(), os.read(r, 32).decode())\n"
    )
    c = Container(image)
    try:
        # TINI is the pid of this script's parent: tini itself
        result = c.run(*c.config["Entrypoint"][:2], "python3", "-c",
                       "import os; TINI = os.getppid()\n" + script, check=True)
        tini, adopter = result.stdout.split()
        assert adopter == tini
    finally:
        c.remove()


def test_control_plane_and_agent_run_a_pipeline(stack: dict) -> None:
    base, headers = stack["base"], {"Authorization": f"Bearer {stack['admin']}"}
    agents = eventually(lambda: [a for a in httpx.get(f"{base}/agents", headers=headers, timeout=5).json()
                                 if a["id"] == stack["agent_id"] and a.get("status") == "online"],
                        timeout=120, what=f"agent registered (log: {stack['tmp'] / 'agent.log'})")
    assert agents[0]["labels"] == {"zone": "test"}  # from the mounted conduix.yaml
    # the ticker pipeline came from the mounted pipelines directory (--pipelines-dir in conduix.yaml)
    pipeline = httpx.get(f"{base}/pipelines/ticker", headers=headers, timeout=5).json()
    assert pipeline["current_version"] == 1
    started = httpx.post(f"{base}/pipelines/ticker/start", headers=headers, timeout=10)
    assert started.status_code < 300, started.text
    out = stack["out"] / "ticker.jsonl"
    lines = eventually(lambda: out.is_file() and len(out.read_text().splitlines()) >= 5 and out.read_text(),
                       timeout=120, what="records written by the pipeline on the agent")
    assert json.loads(lines.splitlines()[0])["message"] == "tick"


def test_health_and_readiness(stack: dict) -> None:
    base = stack["base"]
    health = httpx.get(f"{base}/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert httpx.get(f"{base}/ready", timeout=5).json() == {"status": "ready"}
    # the image's HEALTHCHECK command, run in the container as Docker would
    assert stack["control"].run("conduix-healthcheck", env={"CONDUIX_HEALTH_URL": f"{base}/health"}).returncode == 0
    # and it fails when nothing answers
    refused = stack["control"].run("conduix-healthcheck",
                                   env={"CONDUIX_HEALTH_URL": f"http://127.0.0.1:{free_port()}/"})
    assert refused.returncode == 1 and "unhealthy" in refused.stderr
    control_metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert control_metrics.status_code == 200 and "conduix_control_agents{" in control_metrics.text
    # the agent's endpoint (CONDUIX_AGENT_METRICS_HOST/PORT), and its HEALTHCHECK
    agent = stack["agent_base"]
    agent_health = eventually(lambda: httpx.get(f"{agent}/health", timeout=5).json(), timeout=120,
                              what=f"the agent's /health (log: {stack['tmp'] / 'agent.log'})")
    assert agent_health["status"] == "alive" and agent_health["agent"] == stack["agent_id"]
    assert agent_health["redis"]["TotalRequests"] >= 0
    eventually(lambda: httpx.get(f"{agent}/ready", timeout=5).status_code == 200, what="the agent's /ready")
    agent_metrics = httpx.get(f"{agent}/metrics", timeout=5).text
    assert f'conduix_agent_mode{{agent="{stack["agent_id"]}"' in agent_metrics
    assert "conduix_redis_connected{" in agent_metrics
    assert stack["agent"].run("conduix-healthcheck").returncode == 0  # CONDUIX_HEALTH_URL: the agent's /health


def test_compose_commands_are_the_images(image: str) -> None:
    """Every Conduix service of docker-compose.yml: its command parses in the image's CLI, its healthcheck
    command is in the image."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = {name: s for name, s in compose["services"].items() if "conduix" in str(s.get("image", ""))}
    assert set(services) == {"control", "agent-1", "agent-2"}
    c = Container(image)
    try:
        for name, service in services.items():
            checked = c.run(*c.entrypoint(*service["command"], "--help"))
            assert checked.returncode == 0, f"{name}: {checked.stderr}"
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD"
            assert c.run("sh", "-c", f"command -v {test[1]}").returncode == 0, f"{name}: {test[1]} not in image"
    finally:
        c.remove()
