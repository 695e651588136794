"""The control plane's OpenAPI document, written for the web UI: ``python -m conduix_control.openapi [FILE]``.

``conduix-control/ui/openapi.json`` holds it; the UI's TypeScript types (``ui/src/api-schema.ts``) are
generated from that file with ``openapi-typescript`` (``npm run types`` in ``ui/``), and a test checks both
are current. The document is taken from an app built on a throwaway database and state directory, with the
default settings, so it does not depend on where or how it is made.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["document", "main"]

UI_COPY = Path(__file__).resolve().parents[2] / "ui" / "openapi.json"


def document() -> dict[str, Any]:
    from conduix_control.api.app import create_app
    from conduix_control.auth.settings import AuthSettings
    from conduix_control.settings import ControlSettings

    with tempfile.TemporaryDirectory(prefix="conduix-openapi-") as tmp:
        app = create_app(f"sqlite:///{tmp}/control.db", settings=ControlSettings(), run_leader=False,
                         auth=AuthSettings(state_dir=Path(tmp), admin_password="not-used-for-the-document"))
        return app.openapi()


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else UI_COPY
    target.write_text(text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
