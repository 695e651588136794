"""Registers the S3 components by name; imports no client library (``conduix plugins`` stays fast)."""

from __future__ import annotations

from conduix.connector import ComponentRegistry, hookimpl


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    registry.add_sink("s3", "conduix_s3.sink:S3Sink")
    registry.add_source("s3", "conduix_s3.source:S3Source")
