"""``conduix plugin init``: a plugin package a user can install and extend."""

from __future__ import annotations

import re
from pathlib import Path

from conduix.errors import ConfigError

__all__ = ["scaffold_plugin"]

_PYPROJECT = '''[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "conduix-{name}"
version = "0.1.0"
description = "A Conduix plugin: the {stage} stage"
requires-python = ">=3.10"
dependencies = ["conduix-core>=0.1,<1"]

[project.entry-points.conduix]
{name} = "conduix_{module}.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/conduix_{module}"]
'''

_PLUGIN = '''"""Registers this package's components with Conduix. Imports no heavy library."""

from conduix.connector import hookimpl


@hookimpl
def conduix_register_components(registry):
    registry.add_stage("{stage}", "conduix_{module}.stage:{cls}")
'''

_STAGE = '''"""The {stage} stage: upper-cases the configured fields of every record."""

from __future__ import annotations

from pydantic import Field

from conduix.connector import Batch, ComponentConfig, Emit, Stage


class {cls}Config(ComponentConfig):
    fields: list[str] = Field(default_factory=lambda: ["message"], description="Fields to change.")


class {cls}(Stage[{cls}Config]):
    Config = {cls}Config

    def process(self, batch: Batch, emit: Emit) -> None:
        fields = self.config.fields
        for record in batch.records:
            for field in fields:
                value = record.get(field)
                if isinstance(value, str):
                    record[field] = value.upper()
        emit(batch)
'''

_TEST = '''from conduix.testing import run_pipeline


def test_{module}_stage():
    run = run_pipeline({{
        "sources": {{"in": {{"type": "list", "records": [{{"message": "hi"}}]}}}},
        "transforms": {{"t": {{"type": "{stage}", "inputs": ["in"]}}}},
        "sinks": {{"out": {{"type": "collect", "inputs": ["t"]}}}},
    }})
    assert run.records("out") == [{{"message": "HI"}}]
'''


def scaffold_plugin(name: str, directory: Path) -> Path:
    """Create ``conduix-NAME/`` under ``directory``; returns its path."""
    if not re.fullmatch(r"[a-z][a-z0-9_\-]*", name):
        raise ConfigError(f"plugin name {name!r} is not valid",
                          hint="use lowercase letters, digits, '-' and '_', starting with a letter")
    module = name.replace("-", "_")
    stage = module
    cls = "".join(part.capitalize() for part in module.split("_")) + "Stage"
    root = directory / f"conduix-{name}"
    if root.exists():
        raise ConfigError(f"{root} already exists", hint="choose another name or directory")
    values = {"name": name, "module": module, "stage": stage, "cls": cls}
    files = {
        "pyproject.toml": _PYPROJECT,
        f"src/conduix_{module}/__init__.py": '"""Conduix plugin {name}."""\n',
        f"src/conduix_{module}/plugin.py": _PLUGIN,
        f"src/conduix_{module}/stage.py": _STAGE,
        f"tests/test_{module}.py": _TEST,
        "README.md": "# conduix-{name}\n\nA Conduix plugin. Install with `pip install -e .`, then "
                     "`conduix plugins` lists the `{stage}` stage.\n",
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
