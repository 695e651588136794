"""One template syntax for every connector option that builds text from records (conduix.templates)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from conduix.connector import ComponentConfig, ConfigError, Template, TemplateError, TemplateText, record_time

WHEN = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)


def test_fields_nested_fields_and_metadata():
    record = {"service": "api", "env": {"name": "prod"}, "n": 7, "ok": True, "ratio": 1.5, "raw": b"b\xc3\xa9"}
    meta = {"topic": "orders", "partition": 2}
    assert Template("logs-{{ service }}-{{ env.name }}").render(record) == "logs-api-prod"
    assert Template("{{ .env.name }}").render(record) == "prod"  # remap's way of writing a path
    assert Template("{{ @meta.topic }}-{{ %partition }}").render(record, meta=meta) == "orders-2"
    assert Template("{{n}}|{{ ok }}|{{ ratio }}|{{ raw }}").render(record) == "7|true|1.5|bé"
    assert Template("{{ @meta.topic }}").uses_meta and not Template("{{ topic }}").uses_meta


def test_time_codes_only_where_the_option_asks_for_them():
    record = {"service": "api", "at": "2024-06-01T08:30:00Z", "pct": "100%Y"}
    daily = Template("logs-{{ service }}-%Y.%m.%d", strftime=True)
    assert daily.uses_time and not daily.is_static
    assert daily.render(record, record_time(record, "at")) == "logs-api-2024.06.01"
    assert Template("{{ pct }}-%H", strftime=True).render(record, WHEN) == "100%Y-08"  # values are not time codes
    assert Template("rate-100%", strftime=False).render(record) == "rate-100%"
    assert Template("plain").is_static and Template("plain").render({}) == "plain"


@pytest.mark.parametrize("record, problem", [({}, "missing"), ({"id": None}, "missing"),
                                             ({"id": {"a": 1}}, "dict, not a scalar"),
                                             ({"id": [1]}, "list, not a scalar")])
def test_a_record_that_does_not_fit_raises_naming_the_field(record, problem):
    with pytest.raises(TemplateError, match=problem) as info:
        Template("doc-{{ id }}").render(record)
    assert "'id'" in str(info.value) and "doc-{{ id }}" in str(info.value)
    assert isinstance(info.value, ValueError)  # connectors reject the record (on_error)


def test_value_of_a_single_field_keeps_bytes_and_gives_none_when_missing():
    key = Template("{{ @meta.key }}")
    assert key.value({}, {"key": b"\x00k"}) == b"\x00k"
    assert key.value({}, {}) is None
    assert Template("{{ n }}").value({"n": 7}) == "7"
    with pytest.raises(TemplateError):
        Template("user-{{ id }}").value({})  # mixed text: a missing field is an error


@pytest.mark.parametrize("text", ["{{ }}", "a-{{ b", "x }}", "{{ a b }}"])
def test_a_malformed_template_is_a_config_error_naming_the_option(text):
    with pytest.raises(ConfigError, match="not around a field name") as info:
        Template(text, option="topic")
    assert info.value.path == "topic"


def test_single_braces_are_read_as_a_deprecated_alias_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="conduix.templates"):
        legacy = Template("orders.{region}.{ @meta.kind }", option="subject")
    assert legacy.render({"region": "eu"}, meta={"kind": "new"}) == "orders.eu.new"
    assert "deprecated" in caplog.text and "orders.{{ region }}.{{ @meta.kind }}" in caplog.text
    assert Template("{{ a }}-{b}").render({"a": 1}) == "1-{b}"  # with '{{' in it, single braces are text


def test_a_template_option_in_a_config_model_is_checked_where_it_is_written():
    class Config(ComponentConfig):
        subject: TemplateText

    assert Config(subject="a.{{ b }}").subject == "a.{{ b }}"
    with pytest.raises(ValidationError, match="subject"):
        Config(subject="a.{{ b")
