"""S3 connectors for Conduix: the ``s3`` sink and source.

The components are registered through the ``conduix`` entry point (``conduix_s3.plugin``) and imported
only when a pipeline uses them; the names below are loaded on first use, so importing the plugin module
(``conduix plugins``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conduix_s3.sink import S3Sink, S3SinkConfig
    from conduix_s3.source import S3Source, S3SourceConfig

__all__ = ["S3Sink", "S3SinkConfig", "S3Source", "S3SourceConfig"]

_MODULES = {"S3Sink": "sink", "S3SinkConfig": "sink", "S3Source": "source", "S3SourceConfig": "source"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'conduix_s3' has no attribute {name!r}")
    return getattr(importlib.import_module(f"conduix_s3.{module}"), name)
