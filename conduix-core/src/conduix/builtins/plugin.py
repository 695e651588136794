"""The built-in components, registered through the same hook as any plugin."""

from __future__ import annotations

from conduix.hookspecs import hookimpl
from conduix.registry import ComponentRegistry


@hookimpl
def conduix_register_components(registry: ComponentRegistry) -> None:
    registry.add_source("generate", "conduix.builtins.generate:GenerateSource")
    registry.add_source("file", "conduix.builtins.files:FileSource")
    registry.add_source("stdin", "conduix.builtins.stdio:StdinSource")
    registry.add_source("dead_letters", "conduix.builtins.dead_letters:DeadLettersSource")
    registry.add_source("http_client", "conduix.builtins.http_client:HttpClientSource")
    registry.add_source("http_server", "conduix.builtins.http_server:HttpServerSource")
    registry.add_stage("python", "conduix.builtins.python_stage:PythonStage")
    registry.add_stage("remap", "conduix.builtins.remap_stages:RemapStage")
    registry.add_stage("filter", "conduix.builtins.remap_stages:FilterStage")
    registry.add_stage("router", "conduix.builtins.remap_stages:RouterStage")
    registry.add_stage("trigger", "conduix.builtins.trigger:TriggerStage")
    registry.add_stage("aggregate", "conduix.builtins.aggregate:AggregateStage")
    registry.add_stage("enrich", "conduix.builtins.enrich:EnrichStage")
    registry.add_stage("dedupe", "conduix.builtins.dedupe:DedupeStage")
    registry.add_stage("throttle", "conduix.builtins.throttle:ThrottleStage")
    registry.add_sink("stdout", "conduix.builtins.stdio:StdoutSink")
    registry.add_sink("file", "conduix.builtins.files:FileSink")
    registry.add_sink("blackhole", "conduix.builtins.blackhole:BlackholeSink")
    registry.add_sink("http", "conduix.builtins.http_sink:HttpSink")
