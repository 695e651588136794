"""Every connector page documents every option of its components with the current defaults (tables generated
from the config models), states its delivery guarantee and failures; plugin modules import no client library."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from conduix.plugins import get_plugin_host

from .option_tables import BLOCK, PAGES, ROOT, render


def page_text(page: str) -> str:
    return (ROOT / "docs" / "connectors" / page).read_text()


@pytest.mark.parametrize("page", PAGES)
def test_option_tables_are_the_config_models(page: str) -> None:
    text = page_text(page)
    assert BLOCK.search(text), f"{page} has no generated option table (<!-- options: module:Class -->)"
    assert render(text) == text, f"docs/connectors/{page} is stale: run python -m tests.docs.option_tables"


@pytest.mark.parametrize("page", PAGES)
def test_page_states_the_delivery_guarantee_and_failures(page: str) -> None:
    text = page_text(page)
    assert "Delivery guarantee" in text
    assert "| failure | what happens |" in text or "**Answers.**" in text or "## What happens" in text


def test_every_connector_component_has_a_page() -> None:
    documented = set()
    for page in PAGES:
        for match in BLOCK.finditer(page_text(page)):
            module, name = match["target"].split(":")
            documented.add(getattr(importlib.import_module(module), name))
    entries = [e for e in get_plugin_host().registry.entries()
               if (e.distribution or "").startswith("conduix-connectors-") or e.type_name.startswith("http")]
    assert len(entries) >= 11
    missing = [f"{e.kind} {e.type_name}" for e in entries if e.load().Config not in documented]
    assert not missing, f"no docs/connectors page documents the options of {missing}"


@pytest.mark.parametrize(("plugin", "clients"), [
    ("conduix_es.plugin", ("elastic",)), ("conduix_s3.plugin", ("boto3", "botocore")),
    ("conduix_kafka.plugin", ("confluent_kafka",)), ("conduix_messaging.plugin", ("nats", "aio_pika", "aiormq")),
])
def test_a_plugin_module_imports_no_client_library(plugin: str, clients: tuple[str, ...]) -> None:
    code = f"import sys, {plugin}; print(sorted(m for m in sys.modules if m.split('.')[0] in {clients!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"conduix plugins would import {out.strip()}"
