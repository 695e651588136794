"""The component reference in Markdown, generated from the components' config models.

    python -m conduix.config.reference > docs/components.md
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from conduix.registry import ComponentRegistry

__all__ = ["components_markdown"]

_TITLES = {"source": "Sources", "stage": "Transforms (stages)", "sink": "Sinks"}


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("NoneType", "null")


def _fields(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        if field.is_required():
            default = "**required**"
        elif field.default_factory is not None:
            default = f"`{field.default_factory()!r}`"  # type: ignore[call-arg]
        elif field.default is PydanticUndefined:
            default = ""
        else:
            default = f"`{field.default!r}`"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        type_text = _type_name(field.annotation).replace("|", "\\|")
        rows.append(f"| `{name}` | `{type_text}` | {default} | {description} |")
    return rows


def components_markdown(registry: ComponentRegistry, *, only_plugin: str | None = None) -> str:
    lines = ["# Component reference", "",
             "Generated from the components' config models by `python -m conduix.config.reference`;",
             "every component also accepts `type:` and (transforms and sinks) `inputs:`.", "",
             "The original README's stage types are these `type:` names, each usable anywhere in a chain:",
             "FilterStage `filter`, RemapStage `remap`, AggregateStage `aggregate`, EnrichStage `enrich`,",
             "TriggerStage `trigger` (below), ElasticsearchStage `elasticsearch` and KafkaStage `kafka`",
             "([connector packages](#components-of-the-connector-packages)).", ""]
    for kind in ("source", "stage", "sink"):
        entries = [e for e in registry.entries(kind) if only_plugin is None or e.plugin == only_plugin]
        if not entries:
            continue
        lines += [f"## {_TITLES[kind]}", ""]
        for entry in entries:
            cls = entry.load()
            doc = cls.__dict__.get("__doc__") or inspect.getdoc(inspect.getmodule(cls)) or ""
            doc = inspect.cleandoc(doc)
            lines += [f"### `{entry.type_name}`", "", doc.split("\n\n")[0], ""]
            lines += _fields(cls.Config)
            lines.append("")
    if only_plugin is not None:
        lines += _others(registry, only_plugin)
    return "\n".join(lines).rstrip() + "\n"


def _others(registry: ComponentRegistry, plugin: str) -> list[str]:
    """The component types of the installed connector packages (their pages are in docs/connectors/)."""
    entries = [e for e in registry.entries()
               if e.plugin != plugin and (e.distribution or "").startswith("conduix-connectors-")]
    if not entries:
        return []
    lines = ["## Components of the connector packages", "",
             "Their options are on their pages in [connectors/](connectors/). A stage of the same type as a",
             "sink (`elasticsearch`, `kafka`: the original README's ElasticsearchStage and KafkaStage) takes the",
             "sink's options, writes each batch like the sink and passes the written records on; a source batch",
             "is acknowledged only once every write after it is done too.", "",
             "| type | kind | package |", "| --- | --- | --- |"]
    lines += [f"| `{e.type_name}` | {e.kind} | {e.distribution or e.plugin} |" for e in entries]
    return [*lines, ""]


if __name__ == "__main__":
    from conduix.plugins import get_plugin_host

    print(components_markdown(get_plugin_host().registry, only_plugin="builtins"), end="")
