"""The Makefile: the original README's targets, each a thin call of nox (or of docker compose); the targets
that start long-running services are run for real in dry-run mode, the rest checked with ``make -n``."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVSTACK = ROOT / "deploy" / "devstack.py"
EXPECTED = {  # target -> what it runs (make -n)
    "deps": ["-m pip install --disable-pip-version-check \"nox>=2024.4\"", "-m nox -s tests dev --install-only"],
    "infra-up": ["-m nox -s infra -- up"],
    "infra-down": ["-m nox -s infra -- down"],
    "build": ["CONDUIX_IMAGE=conduix:latest CONDUIX_LOCAL_BASE= python3 -m nox -s build"],
    "dev": ["-m nox -s dev"],
    "test": ["-m nox -s tests"],
    "test-images": ["-m nox -s images"],
    "bench": ["-m nox -s bench"],
    "up": ["deploy/devstack.py env", "docker compose up -d"],
}


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert shutil.which("make"), "GNU make is needed"
    return subprocess.run(["make", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_target_runs_nox(target: str) -> None:
    result = make("-n", target)
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED[target]:
        assert expected in result.stdout, f"make {target} runs:\n{result.stdout}"


def test_nox_sessions_exist() -> None:
    """Every session the Makefile calls is defined in noxfile.py."""
    called = set(re.findall(r"\$\(NOX\) -s ([\w ]+?)(?: --| *$)", (ROOT / "Makefile").read_text(), re.M))
    sessions = {name for group in called for name in group.split()}
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
               and any("nox.session" in ast.unparse(d) for d in node.decorator_list)}
    assert sessions and sessions <= defined, f"not in noxfile.py: {sorted(sessions - defined)}"


def test_help_lists_the_original_targets() -> None:
    result = make("help")
    assert result.returncode == 0
    for target in ("deps", "infra-up", "infra-down", "build", "dev", "test", "bench"):
        assert f"make {target} " in result.stdout


def test_infra_dry_run() -> None:
    """infra-up uses this machine's Redis and database where they run (they do here), else the compose file."""
    result = subprocess.run([sys.executable, str(DEVSTACK), "infra", "up", "--dry-run"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "this machine's Redis on 127.0.0.1:6379" in result.stdout


def test_dev_dry_run() -> None:
    """dev starts a control plane, an agent that shares its token, and Vite's dev server."""
    result = subprocess.run([sys.executable, str(DEVSTACK), "dev", "--dry-run", "--port", "18999"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "control serve --port 18999" in result.stdout
    assert "agent start --agent-id dev-agent" in result.stdout
    assert "npm run dev" in result.stdout


def test_env_writes_random_secrets_once(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    for _ in range(2):
        result = subprocess.run([sys.executable, str(DEVSTACK), "env", "--file", str(target)], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in target.read_text().splitlines() if line and line[0] != "#")
    for token in (values["CONDUIX_AGENT_1_TOKEN"], values["CONDUIX_AGENT_2_TOKEN"]):
        assert token.startswith("cdx_") and len(token) >= 36
    assert values["CONDUIX_AGENT_1_TOKEN"] != values["CONDUIX_AGENT_2_TOKEN"]
    assert all(len(values[k]) >= 16 for k in ("CONDUIX_ADMIN_PASSWORD", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"))
    assert "kept the existing" in result.stdout  # the second run changed nothing
    assert oct(target.stat().st_mode & 0o777) == "0o600"
