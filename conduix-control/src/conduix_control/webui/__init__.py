"""The web UI's built files (``dist/``, made from ``conduix-control/ui`` by the package build) served at ``/``.

The UI routes by URL fragment (``/#/pipelines/orders``), so only ``/`` and ``/assets/...`` are taken
from the API's path space. Both are public: the page itself asks ``/auth/me`` and shows the login.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["DIST", "mount_ui", "ui_built"]

DIST = Path(__file__).parent / "dist"

_NOT_BUILT = """<!doctype html><html><head><title>Conduix control plane</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>Conduix control plane</h1>
<p>The API is up (<a href="/docs">OpenAPI</a>), but this installation has no web UI: its files were not
built. Install <code>conduix-control</code> from a wheel, or from the source tree with Node.js and npm on the
PATH (the package build runs <code>npm ci</code> and <code>npm run build</code> in <code>conduix-control/ui</code>),
or run <code>nox -s ui</code>.</p></body></html>"""


def ui_built() -> bool:
    return (DIST / "index.html").is_file()


def mount_ui(app: FastAPI) -> None:
    """Serve ``index.html`` at ``/`` and the hashed assets under ``/assets``; a hint page when not built."""
    if (DIST / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=DIST / "assets"), name="ui-assets")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        if not ui_built():
            return HTMLResponse(_NOT_BUILT)
        # index.html names the hashed asset files of this build: never cache it
        return FileResponse(DIST / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.svg", include_in_schema=False)
    def favicon() -> Response:
        icon = DIST / "favicon.svg"
        return FileResponse(icon) if icon.is_file() else Response(status_code=404)
