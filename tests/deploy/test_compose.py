"""docker-compose.yml: valid for podman-compose (the same file format as ``docker compose``), refuses to start
without the secrets of .env, and its Conduix services run commands, health checks and settings that the code
really has. (tests/images runs the same commands inside the built image.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"MYSQL_PASSWORD": "m-pass", "MYSQL_ROOT_PASSWORD": "r-pass", "CONDUIX_ADMIN_PASSWORD": "admin-pass",
           "CONDUIX_AGENT_1_TOKEN": "cdx_" + "1" * 43, "CONDUIX_AGENT_2_TOKEN": "cdx_" + "2" * 43}
SOURCES = [ROOT / "conduix-core" / "src", ROOT / "conduix-control" / "src", ROOT / "deploy" / "docker"]
EXTRA_SOURCES = [ROOT / "conduix-control" / "hatch_build.py"]


def compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``podman-compose config`` in a copy of the project folder holding only the compose file (no .env)."""
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.read_text())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUIX_", "MYSQL_"))}
    return subprocess.run([sys.executable, "-m", "podman_compose", "config"], cwd=tmp_path, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = compose_config(SECRETS, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def conduix_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in config["services"].items() if "conduix" in str(s.get("image", ""))}


def test_services_and_volumes(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == {"control", "agent-1", "agent-2", "redis", "mysql", "kafka"}
    assert resolved["services"]["mysql"]["image"].startswith("mysql:8")
    for name, service in resolved["services"].items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service.get("volumes"), f"{name} keeps no state"
    env = resolved["services"]["control"]["environment"]
    assert env["CONDUIX_CONTROL_DB"] == "mysql://conduix:m-pass@mysql:3306/conduix"
    assert env["CONDUIX_CONTROL_ADMIN_PASSWORD"] == "admin-pass"
    # each agent its own token, bound to its id; the control plane stores both
    assert env["CONDUIX_CONTROL_AGENT_TOKENS"] == (f"agent-1={SECRETS['CONDUIX_AGENT_1_TOKEN']},"
                                                   f"agent-2={SECRETS['CONDUIX_AGENT_2_TOKEN']}")
    for n in ("1", "2"):
        agent = resolved["services"][f"agent-{n}"]
        assert agent["environment"]["CONDUIX_CONTROL_TOKEN"] == SECRETS[f"CONDUIX_AGENT_{n}_TOKEN"]
        assert agent["command"][2:4] == ["--agent-id", f"agent-{n}"]
    # Redis keeps the checkpoints: append-only file on its volume
    assert "--appendonly" in resolved["services"]["redis"]["command"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_refuses_to_start_without_the_secrets(missing: str, tmp_path: Path) -> None:
    result = compose_config({k: v for k, v in SECRETS.items() if k != missing}, tmp_path)
    assert result.returncode != 0
    assert f"{missing} is missing" in result.stderr and ".env.example" in result.stderr


def test_conduix_commands_are_real(resolved: dict[str, Any]) -> None:
    """Each command parses in the CLI the image installs (an unknown option or command exits 2)."""
    for name, service in conduix_services(resolved).items():
        result = subprocess.run([sys.executable, "-m", "conduix", *service["command"], "--help"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{name}: {' '.join(service['command'])}: {result.stderr}"


def test_health_checks_are_the_images(resolved: dict[str, Any]) -> None:
    """The health check is the image's own command (deploy/docker/conduix-healthcheck, copied onto its PATH)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY deploy/docker/conduix-healthcheck /usr/local/bin/conduix-healthcheck" in dockerfile
    assert 'HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["conduix-healthcheck"]' \
        in dockerfile
    for name, service in conduix_services(resolved).items():
        assert service["healthcheck"]["test"] == ["CMD", "conduix-healthcheck"], name
    assert os.access(ROOT / "deploy" / "docker" / "conduix-healthcheck", os.X_OK)


def test_every_conduix_variable_is_read_by_the_code(resolved: dict[str, Any]) -> None:
    """A misspelt variable would be ignored silently: each CONDUIX_* one set here appears in the sources."""
    files = [p for d in SOURCES for p in d.rglob("*")
             if p.is_file() and (p.suffix == ".py" or p.name == "conduix-healthcheck")]
    code = "\n".join(p.read_text() for p in [*files, *EXTRA_SOURCES])
    names = {key for s in conduix_services(resolved).values() for key in s["environment"] if key.startswith("CONDUIX_")}
    names |= set(re.findall(r"\b(CONDUIX_[A-Z_]+)=", (ROOT / "Dockerfile").read_text()))
    unread = sorted(n for n in names if f'"{n}"' not in code)
    assert not unread, f"set but read by no code: {unread}"


def test_env_example_names_every_variable() -> None:
    """.env.example lists every variable the compose file takes from .env."""
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    listed = set(re.findall(r"^#?(\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used <= listed, f"not in .env.example: {sorted(used - listed)}"
