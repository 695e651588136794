"""Option tables of the connector pages, generated from the pydantic config models.

A page marks each table with ``<!-- options: module:Class -->`` ... ``<!-- /options -->``;
``python -m tests.docs.option_tables`` rewrites the tables; tests/docs/test_connector_pages.py fails when one
is stale.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from conduix.connector import TemplateText

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (ROOT / "docs" / "connectors").glob("*.md"))
BLOCK = re.compile(r"<!-- options: (?P<target>[\w.]+:\w+) -->\n(?P<table>.*?)<!-- /options -->\n", re.S)


def _is_template(metadata: Any) -> bool:
    return any(getattr(m, "func", None) is TemplateText.__metadata__[0].func for m in metadata)


def _name(annotation: Any) -> str:
    """``str``, ``template`` (a TemplateText), ``dict[str, template]``, ``int | None``..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return "template" if _is_template(annotation.__metadata__) else _name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_name(a) for a in args)
    if origin is not None and args:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret str"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _type(annotation: Any, metadata: Any = ()) -> tuple[str, type[BaseModel] | None]:
    args = typing.get_args(annotation)
    models = [a for a in (args or (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:
        return "object", models[0]
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(repr(a) for a in args), None
    text = "template" if _is_template(metadata) else _name(annotation)
    return text.replace("|", "\\|"), None


def _yaml(value: Any) -> str:
    """A default as it would be written in YAML: ``null``, ``true``, ``30.0``, ``'json'``."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        kind, sub = _type(field.annotation, field.metadata)
        if field.is_required():
            default = "**required**"
        elif field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            default = "see below" if isinstance(value, BaseModel) else f"`{value!r}`"
        else:
            default = f"`{_yaml(field.default)}`"
        text = (field.description or "").replace("|", "/")
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {text} |")
        if sub is not None:
            rows += _rows(sub, f"{prefix}{name}.")
    return rows


def table(target: str) -> str:
    module, name = target.split(":")
    model = getattr(importlib.import_module(module), name)
    return "| option | type | default | what it does |\n| --- | --- | --- | --- |\n" + "\n".join(_rows(model)) + "\n"


def render(text: str) -> str:
    return BLOCK.sub(lambda m: f"<!-- options: {m['target']} -->\n{table(m['target'])}<!-- /options -->\n", text)


def main() -> int:
    for page in PAGES:
        path = ROOT / "docs" / "connectors" / page
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
