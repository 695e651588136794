"""JSON Schema of pipeline files, built from the pipeline models and every component's config model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import models_json_schema

from conduix.config.model import ChildSettings, Settings, SupervisionSettings
from conduix.plugins import get_plugin_host
from conduix.registry import ComponentRegistry

__all__ = ["pipeline_json_schema"]


def pipeline_json_schema(registry: ComponentRegistry | None = None) -> dict[str, Any]:
    registry = registry or get_plugin_host().registry
    entries = []
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (Settings, "validation"), (SupervisionSettings, "validation"), (ChildSettings, "validation")]
    for entry in registry.entries():
        try:
            cls = entry.load()
        except Exception:  # a component whose client library is missing still leaves the rest usable
            continue
        fields: dict[str, Any] = {"type": (Literal[entry.type_name], ...)}
        if entry.kind != "source":
            fields["inputs"] = (list[str], Field(..., min_length=1))
        model = create_model(f"{entry.kind}_{entry.type_name}", __base__=cls.Config, **fields)
        entries.append((entry, model))
        models.append((model, "validation"))
    refs, top = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = top.get("$defs", {})

    def variants(kind: str) -> list[dict[str, Any]]:
        out = []
        for entry, model in entries:
            if entry.kind != kind:
                continue
            out.append(refs[(model, "validation")])
        return out

    def section(kind: str) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": {"oneOf": variants(kind)}}

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Conduix pipeline",
        "type": "object",
        "properties": {
            "version": {"enum": [1, "1", "1.0"]},
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]+$"},
            "description": {"type": "string"},
            "type": {"enum": ["pipeline", "actor"]},
            "delivery": {"enum": ["at_least_once", "exactly_once"]},
            "data_type": {"type": "string"},
            "parent": {"type": "string"},
            "data_output": {"type": "string"},
            "child": refs[(ChildSettings, "validation")],
            "settings": refs[(Settings, "validation")],
            "supervision": refs[(SupervisionSettings, "validation")],
            "sources": section("source"),
            "transforms": section("stage"),
            "sinks": section("sink"),
            "children": {"type": "array", "items": {"type": "object"}},
            # the original README's shapes (conduix.config.shapes): an actor tree, a stage chain
            "pipeline": {"type": "object"},
            "stages": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": False,
        "$defs": defs,
    }
