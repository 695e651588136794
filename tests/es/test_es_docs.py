"""Every option of the Elasticsearch components is documented on its page, and the plugin module imports
no client library (``conduix plugins`` stays fast)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel

from conduix_es import ElasticsearchSinkConfig, ElasticsearchSourceConfig
from tests.conftest import ROOT


def option_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        names.append(prefix + name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += option_names(field.annotation, f"{prefix}{name}.")
    return names


@pytest.mark.parametrize(("model", "page"), [(ElasticsearchSinkConfig, "elasticsearch-sink.md"),
                                             (ElasticsearchSourceConfig, "elasticsearch-source.md")])
def test_every_option_is_documented(model: type[BaseModel], page: str) -> None:
    text = (ROOT / "docs" / "connectors" / page).read_text()
    missing = [name for name in option_names(model) if f"| `{name}` |" not in text]
    assert not missing, f"document {missing} in docs/connectors/{page}"


def test_plugin_module_imports_no_client_library() -> None:
    code = "import sys, conduix_es.plugin; print(sorted(m for m in sys.modules if m.startswith('elastic')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
