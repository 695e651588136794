"""Elasticsearch connectors for Conduix: the ``elasticsearch`` sink and source.

The components are registered through the ``conduix`` entry point (``conduix_es.plugin``) and imported
only when a pipeline uses them; the names below are loaded on first use, so importing the plugin module
(``conduix plugins``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conduix_es.sink import ElasticsearchSink, ElasticsearchSinkConfig
    from conduix_es.source import ElasticsearchSource, ElasticsearchSourceConfig

__all__ = ["ElasticsearchSink", "ElasticsearchSinkConfig", "ElasticsearchSource", "ElasticsearchSourceConfig"]

_MODULES = {"ElasticsearchSink": "sink", "ElasticsearchSinkConfig": "sink",
            "ElasticsearchSource": "source", "ElasticsearchSourceConfig": "source"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'conduix_es' has no attribute {name!r}")
    return getattr(importlib.import_module(f"conduix_es.{module}"), name)
