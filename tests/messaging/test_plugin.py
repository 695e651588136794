"""The messaging plugin registers its components by name and imports no client library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conduix.errors import ConfigError
from conduix.testing import run_pipeline, test_registry


def test_plugin_module_imports_no_client_library() -> None:
    code = ("import sys, conduix_messaging.plugin; "
            "print(sorted(m for m in ('nats', 'aio_pika', 'aiormq') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_components_are_listed_with_their_distribution(cli) -> None:
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listed = {(e["kind"], e["type"]): e for e in json.loads(result.stdout)["components"]}
    for kind in ("source", "sink"):
        for name in ("nats", "amqp"):
            assert listed[(kind, name)]["distribution"] == "conduix-connectors-messaging"
    registry = test_registry()
    assert {"nats", "amqp"} <= set(registry.names("source")) & set(registry.names("sink"))


@pytest.mark.parametrize(("component", "message"), [
    ({"type": "nats", "subject": "a.*"}, "cannot publish to subject"),
    ({"type": "nats", "subject": "a.{x"}, "malformed"),
    ({"type": "amqp", "routing_key": "k", "exchnage": "x"}, "exchnage"),
])
def test_sink_config_errors_name_the_problem(component: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_pipeline({"sources": {"in": {"type": "list", "records": []}},
                      "sinks": {"out": {"inputs": ["in"], **component}}})
