"""deploy/systemd: systemd's own checker accepts the units (no unknown key, no bad value), and the command and
settings each unit starts are ones the CLI has."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
CONDUIX = Path(sys.executable).parent / "conduix"  # what /opt/conduix/bin/conduix is on a server


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text())
    return parser


def test_two_units() -> None:
    assert [p.name for p in UNITS] == ["conduix-agent.service", "conduix-control.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify(path: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian package systemd)"
    copy = tmp_path / path.name  # the same unit, with the conduix of this test environment
    copy.write_text(path.read_text().replace("/opt/conduix/bin/conduix", str(CONDUIX)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if str(copy) in line]
    assert result.returncode == 0 and not problems, result.stderr


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_command_and_settings_are_real(path: Path) -> None:
    service = unit(path)["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/conduix/bin/conduix"
    result = subprocess.run([str(CONDUIX), *argv[1:], "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert service["User"] == "conduix" and service["StateDirectory"] == "conduix"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    settings = [line.split("=", 2)[1] for line in path.read_text().splitlines() if line.startswith("Environment=")]
    assert set(settings) == {"CONDUIX_CONFIG", "CONDUIX_STATE_DIR", "CONDUIX_LOG_LEVEL"}
