"""Registers the Elasticsearch components by name; imports no client library (``conduix plugins`` stays fast)."""

from __future__ import annotations

from conduix.connector import ComponentRegistry, hookimpl


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    registry.add_sink("elasticsearch", "conduix_es.sink:ElasticsearchSink")
    registry.add_source("elasticsearch", "conduix_es.source:ElasticsearchSource")
    registry.add_stage("elasticsearch", "conduix_es.stage:ElasticsearchStage")
