"""Hatch build hook: build the web UI (``ui/``, React + Vite) into ``src/conduix_control/webui/dist``.

Runs for wheels and editable installs, so ``pip install ./conduix-control`` (or ``-e``) ships the UI
without a manual step. Skipped when the built files are newer than every UI source, or when
``CONDUIX_SKIP_UI_BUILD=1``. Needs Node.js and npm only when it has to build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json",
            "openapi.json", "typegen/package-lock.json")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            newest = max([newest, *(p.stat().st_mtime for p in path.rglob("*") if p.is_file())])
        elif path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


class WebUIBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        ui = Path(self.root) / "ui"
        index = Path(self.root) / "src" / "conduix_control" / "webui" / "dist" / "index.html"
        build_data["artifacts"].append("src/conduix_control/webui/dist/")
        if not (ui / "package.json").is_file() or os.environ.get("CONDUIX_SKIP_UI_BUILD") == "1":
            return
        if index.is_file() and index.stat().st_mtime >= _newest([ui / name for name in _SOURCES]):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("building conduix-control's web UI needs Node.js and npm on the PATH "
                               "(https://nodejs.org); or set CONDUIX_SKIP_UI_BUILD=1 to install without the UI")
        lock = ui / "package-lock.json"
        installed = ui / "node_modules" / ".package-lock.json"
        typegen = ui / "typegen" / "node_modules" / ".package-lock.json"  # installed by npm ci's postinstall
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime or not typegen.is_file():
            self.app.display_info("conduix-control: npm ci (web UI dependencies)")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ui, check=True)
        self.app.display_info("conduix-control: npm run build (web UI)")
        subprocess.run([npm, "run", "build"], cwd=ui, check=True)
