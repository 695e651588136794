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
             "every component also accepts `type:` and (transforms and sinks) `inputs:`.", ""]
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
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    from conduix.plugins import get_plugin_host

    print(components_markdown(get_plugin_host().registry, only_plugin="builtins"), end="")
