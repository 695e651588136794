"""The one redaction of errors and logs (conduix.redaction): URL passwords and registered secrets."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import SecretStr

from conduix.components import ComponentConfig
from conduix.redaction import RedactingFormatter, redact, register_secret, secret_key
from tests.conftest import conduix


class Probe(ComponentConfig):
    url: str
    password: SecretStr | None = None
    options: dict[str, str] = {}


def test_url_passwords_are_masked_whether_known_or_not() -> None:
    text = "cannot reach redis://:p4ss@h:6379/0 nor amqp://bob:s3cr%40t@rabbit/vh nor http://h:8080/path@x"
    assert redact(text) == "cannot reach redis://:***@h:6379/0 nor amqp://bob:***@rabbit/vh nor http://h:8080/path@x"
    assert redact("nats://alice:pa@ss@h:4222 ok") == "nats://alice:***@h:4222 ok"


def test_secrets_of_a_validated_config_are_masked_everywhere_in_this_process() -> None:
    Probe(url="nats://u:url-secret-1@h:4222", password=SecretStr("field-secret-2"),
          options={"sasl.password": "option-secret-3", "client.id": "not-a-secret"})
    message = "failed: url-secret-1 / field-secret-2 / option-secret-3 / not-a-secret"
    assert redact(message) == "failed: *** / *** / *** / not-a-secret"
    assert "field-secret-2" not in repr(Probe(url="x", password="field-secret-2"))


def test_short_values_are_not_masked_everywhere() -> None:
    register_secret("ab")
    assert redact("tab and table") == "tab and table"
    assert secret_key("ssl.key.password") and secret_key("api_key") and not secret_key("tokens_total")


def test_log_lines_and_tracebacks_go_through_the_redaction() -> None:
    register_secret("in-a-traceback-4")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "connect %s failed", ("amqp://u:pw-5@h",), None)
    try:
        raise RuntimeError("boom in-a-traceback-4")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    line = RedactingFormatter("%(message)s").format(record)
    assert "pw-5" not in line and "in-a-traceback-4" not in line and "amqp://u:***@h" in line


def test_config_errors_quote_environment_values_as_written(tmp_path: Path) -> None:
    """`count: "${SECRET}"` with a secret that is no integer: the error (which an agent stores as the run's
    error, readable by viewers) names the placeholder, not its value."""
    path = tmp_path / "p.yaml"
    path.write_text('version: 1\nname: x\nsources:\n  n: {type: generate, count: "${SEC}"}\n'
                    'sinks:\n  o: {type: http, inputs: [n], url: "http://h", method: "${SEC}"}\n')
    done = conduix("validate", str(path), env={"SEC": "s3cr3t-value"})
    assert done.returncode == 2
    assert "count: expected an integer, got '${SEC}' (its value is not shown)" in done.stderr
    assert "method: expected one of POST, PUT, got '${SEC}' (its value is not shown)" in done.stderr
    assert "s3cr3t" not in done.stderr + done.stdout
