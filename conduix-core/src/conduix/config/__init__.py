"""Pipeline configuration: YAML with locations, validation, the resolved spec."""

from conduix.config.loader import load_pipeline, load_pipeline_text, normalize_text, pipeline_from_dict
from conduix.config.model import Settings, SupervisionSettings, TelemetrySettings
from conduix.config.spec import ComponentSpec, InputRef, PipelineSpec, SupervisionNode

__all__ = [
    "ComponentSpec",
    "InputRef",
    "PipelineSpec",
    "Settings",
    "SupervisionNode",
    "SupervisionSettings",
    "TelemetrySettings",
    "load_pipeline",
    "load_pipeline_text",
    "normalize_text",
    "pipeline_from_dict",
]
