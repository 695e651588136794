"""Conduix: data pipelines with batches, backpressure, acknowledgements and supervision.

The public API::

    from conduix import Pipeline
    result = Pipeline.from_yaml("pipeline.yaml").run()

Plugin authors implement :class:`Source`, :class:`Stage` or :class:`Sink` and
register them with :data:`hookimpl`-marked ``conduix_register_components``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conduix.api import Pipeline
    from conduix.builder import PipelineBuilder
    from conduix.components import Batch, ComponentConfig, Context, Emit, Sink, Source, Stage
    from conduix.config import PipelineSpec, load_pipeline, load_pipeline_text, pipeline_from_dict
    from conduix.errors import (
        ComponentError,
        ConduixError,
        ConfigError,
        ConnectorError,
        PipelineError,
        PluginError,
        RemapError,
    )
    from conduix.hookspecs import hookimpl
    from conduix.plugins import get_plugin_host
    from conduix.runtime import AckTracker, PipelineRun, RunResult

# Imported on first use (PEP 562), so `import conduix` and the CLI start fast.
_LAZY = {
    "Pipeline": "conduix.api", "PipelineBuilder": "conduix.builder",
    "Batch": "conduix.components", "ComponentConfig": "conduix.components",
    "Context": "conduix.components", "Emit": "conduix.components", "Sink": "conduix.components",
    "Source": "conduix.components", "Stage": "conduix.components", "PipelineSpec": "conduix.config",
    "load_pipeline": "conduix.config", "load_pipeline_text": "conduix.config", "pipeline_from_dict": "conduix.config",
    "ComponentError": "conduix.errors", "ConduixError": "conduix.errors", "ConfigError": "conduix.errors",
    "ConnectorError": "conduix.errors", "PipelineError": "conduix.errors", "PluginError": "conduix.errors",
    "RemapError": "conduix.errors", "hookimpl": "conduix.hookspecs", "get_plugin_host": "conduix.plugins",
    "AckTracker": "conduix.runtime", "PipelineRun": "conduix.runtime", "RunResult": "conduix.runtime",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conduix' has no attribute {name!r}")


__all__ = [
    "AckTracker",
    "Batch",
    "ComponentConfig",
    "ComponentError",
    "ConduixError",
    "ConfigError",
    "ConnectorError",
    "Context",
    "Emit",
    "Pipeline",
    "PipelineBuilder",
    "PipelineError",
    "PipelineRun",
    "PipelineSpec",
    "PluginError",
    "RemapError",
    "RunResult",
    "Sink",
    "Source",
    "Stage",
    "get_plugin_host",
    "hookimpl",
    "load_pipeline",
    "load_pipeline_text",
    "pipeline_from_dict",
]

__version__ = "0.1.0"
