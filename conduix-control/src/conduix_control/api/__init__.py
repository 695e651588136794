"""The control plane's REST API (FastAPI); OpenAPI at ``/openapi.json``, docs at ``/docs``."""

from conduix_control.api.app import create_app

__all__ = ["create_app"]
