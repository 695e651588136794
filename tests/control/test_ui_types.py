"""The web UI's TypeScript types come from the control plane's OpenAPI document: ui/openapi.json is the
document the API serves (regenerate it with ``python -m conduix_control.openapi``), every UI build turns it into
ui/src/api-schema.ts with openapi-typescript (``npm run types``), and the UI compiles against those types."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conduix_control import openapi
from tests.conftest import ROOT
from tests.servers import exclusive

UI = ROOT / "conduix-control" / "ui"
REGENERATE = "run: python -m conduix_control.openapi"


def npm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("npm")
    if found is None:
        pytest.fail("npm is not installed (nox -s tests installs it from Debian's packages)")
    return subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def installed(folder: Path) -> None:
    """``npm ci`` in ``folder`` unless its packages are there and current."""
    marker = folder / "node_modules" / ".package-lock.json"
    with exclusive(folder / ".install.lock"):
        if not marker.is_file() or marker.stat().st_mtime < (folder / "package-lock.json").stat().st_mtime:
            done = npm("ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=folder)
            assert done.returncode == 0, done.stderr


def test_ui_openapi_json_is_the_document_the_api_serves():
    assert (UI / "openapi.json").read_text() == openapi.text(), f"ui/openapi.json is stale: {REGENERATE}"


def test_the_ui_compiles_against_the_types_generated_from_ui_openapi_json():
    installed(UI / "typegen")
    installed(UI)
    generated = npm("run", "--silent", "types", cwd=UI)  # src/api-schema.ts, as every UI build makes it
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "export interface components" in (UI / "src" / "api-schema.ts").read_text()
    done = subprocess.run([str(UI / "node_modules" / ".bin" / "tsc"), "--noEmit"], cwd=UI, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_what_the_ui_reads_is_declared_in_the_document():
    schemas = openapi.document()["components"]["schemas"]
    types = (UI / "src" / "types.ts").read_text()
    for name in ("PipelineSummary", "PipelineDetail", "ValidateResult", "Stats", "Agent", "Schedule", "Run",
                 "ApiToken", "Me", "AuthConfig"):
        assert name in schemas and f'Schemas["{name}"]' in types, name
    assert "interface" not in types, "types.ts names generated types; it declares none of its own"
