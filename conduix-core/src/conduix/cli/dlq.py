"""``conduix dlq replay FILE --pipeline PIPELINE.yaml --into COMPONENT``: feed dead letters back into a pipeline.

The original records (and their original metadata) go into COMPONENT; the pipeline's own sources are left
out, and so is every component the replayed records cannot reach. Sinks are the pipeline's real sinks. The
pipeline's checkpoint is neither read nor written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from conduix.api import Pipeline
from conduix.cli._common import state_dir_option
from conduix.config import PipelineSpec
from conduix.errors import ConfigError
from conduix.runtime import RunResult

__all__ = ["command", "replay_config"]

REPLAY = "dlq_replay"


def replay_config(spec: PipelineSpec, into: str, path: str, where: str | None = None) -> dict[str, Any]:
    """The pipeline's config with a ``dead_letters`` source feeding ``into`` instead of its own sources."""
    components = spec.components
    target = components.get(into)
    if target is None:
        raise ConfigError(f"--into {into!r}: the pipeline has no such component",
                          hint=f"one of: {', '.join(sorted(components))}")
    raw = spec.raw
    config: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("sources", "transforms", "sinks")}
    replay_id = into if target.kind == "source" else REPLAY
    config["sources"] = {replay_id: {"type": "dead_letters", "path": path, "where": where}}
    config["transforms"], config["sinks"] = {}, {}
    present = {replay_id}
    for cspec in spec.topological():
        if cspec.kind == "source":
            continue
        section = "transforms" if cspec.kind == "stage" else "sinks"
        inputs = [REPLAY] if cspec.id == into else [str(ref) for ref in cspec.inputs if ref.component in present]
        if inputs:
            config[section][cspec.id] = {**raw[section][cspec.id], "inputs": inputs}
            present.add(cspec.id)
    if not config["sinks"]:
        raise ConfigError(f"records replayed into {into!r} reach no sink of the pipeline")
    return config


def _summary(result: RunResult) -> str:
    lines = [f"replay into pipeline {result.pipeline}: {result.status} in {result.duration:.2f}s"]
    for cid, s in result.stats.items():
        extra = "".join(f"  {name} {value}" for name, value in (("errors", s.errors), ("dropped", s.dropped),
                                                               ("dead_letters", s.dead_letters)) if value)
        lines.append(f"  {s.kind:<6} {cid:<20} in {s.records_in:>8,}  out {s.records_out:>8,}{extra}")
    return "\n".join(lines)


@click.group("dlq")
def command() -> None:
    """Work with dead letters."""


@command.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pipeline", "pipeline_file", required=True, type=click.Path(exists=True, dir_okay=False,
                                                                             path_type=Path),
              help="The pipeline to replay into.")
@click.option("--into", "into", required=True, metavar="COMPONENT",
              help="The component the records go into (usually the one that dead-lettered them).")
@click.option("--where", default=None, metavar="CONDITION",
              help='Only dead letters matching this remap condition, e.g. \'.component == "parse"\'.')
@state_dir_option
def replay(file: Path, pipeline_file: Path, into: str, where: str | None, state_dir: Path) -> None:
    """Feed the original records of the dead letters in FILE into COMPONENT of a pipeline.

    Records that fail again go where the component's on_error says (so write them to a new file, not FILE).
    Exit 0 when the replay ran through, 1 when it failed, 2 for bad usage.
    """
    pipeline = Pipeline.from_yaml(pipeline_file)
    config = replay_config(pipeline.spec, into, str(file.resolve()), where)
    replay = Pipeline.from_dict(config, host=pipeline.host, name=pipeline.name)
    result = replay.run(state_dir=state_dir, supervised=False, checkpoints=False)
    click.echo(_summary(result), err=True)
    if not result.ok:
        click.secho(f"error: {result.error}", fg="red", err=True)
        sys.exit(1)
