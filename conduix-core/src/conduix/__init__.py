"""Conduix: data pipelines with batches, backpressure, acknowledgements and supervision.

The public API::

    from conduix import Pipeline
    result = Pipeline.from_yaml("pipeline.yaml").run()

Plugin authors implement :class:`Source`, :class:`Stage` or :class:`Sink` and
register them with :data:`hookimpl`-marked ``conduix_register_components``.
"""

from conduix.api import Pipeline
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
