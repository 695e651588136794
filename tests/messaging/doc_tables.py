"""Option tables of the connector pages, generated from the pydantic config models.

A page marks each table with ``<!-- options: module:Class -->`` ... ``<!-- /options -->``;
``python -m tests.messaging.doc_tables`` rewrites the tables, the docs tests fail when one is stale.
"""

from __future__ import annotations

import importlib
import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["nats.md", "amqp.md", "http-client.md", "http-server.md", "http-sink.md"]
BLOCK = re.compile(r"<!-- options: (?P<target>[\w.]+:\w+) -->\n(?P<table>.*?)<!-- /options -->\n", re.S)


def _type(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    args = typing.get_args(annotation)
    models = [a for a in (args or (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:
        return "object", models[0]
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(repr(a) for a in args), None
    text = str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("|", "\\|"), None


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        kind, sub = _type(field.annotation)
        if field.is_required():
            default = "**required**"
        elif field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            default = "see below" if isinstance(value, BaseModel) else f"`{value!r}`"
        else:
            default = "`null`" if field.default is None else f"`{field.default!r}`"
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
