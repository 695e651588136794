"""The messaging plugin registers its components by name (and imports no client library:
tests/docs/test_connector_pages.py)."""

from __future__ import annotations

import json

import pytest

from conduix.errors import ConfigError
from conduix.testing import run_pipeline, test_registry


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
    ({"type": "nats", "subject": "a.{{ x"}, "not around a field name"),
    ({"type": "amqp", "routing_key": "k", "exchnage": "x"}, "exchnage"),
])
def test_sink_config_errors_name_the_problem(component: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_pipeline({"sources": {"in": {"type": "list", "records": []}},
                      "sinks": {"out": {"inputs": ["in"], **component}}})
