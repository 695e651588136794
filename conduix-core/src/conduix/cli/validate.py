"""``conduix validate``, ``conduix schema`` and ``conduix graph``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from conduix.cli._common import load
from conduix.config import PipelineSpec
from conduix.errors import ConfigError

#: the original README's shapes, as ``conduix validate`` names them
_ORIGINAL = {"tree": "actor tree ('pipeline:')", "chain": "stage chain ('stages:')"}


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check pipeline FILES without running them: exit 0 when valid, 2 with every problem listed."""
    failed = 0
    for file in files:
        try:
            spec = load(str(file))
        except ConfigError as exc:
            failed += 1
            for error in exc.errors:
                click.secho(f"error: {error}", fg="red", err=True)
            continue
        for warning in spec.warnings:
            click.secho(f"warning: {warning}", fg="yellow", err=True)
        click.echo(f"{file}: ok (pipeline {spec.name!r}, {len(spec.components)} components)")
        if spec.shape in _ORIGINAL:
            click.echo(f"  written as the original README's {_ORIGINAL[spec.shape]}; `conduix config normalize "
                       f"{file}` prints it in today's shape")
    if failed:
        raise SystemExit(2)


@click.command("schema")
def schema() -> None:
    """Print the JSON Schema of pipeline files (for editors: yaml-language-server)."""
    from conduix.config.schema import pipeline_json_schema

    click.echo(json.dumps(pipeline_json_schema(), indent=2))


def _label(spec: PipelineSpec, cid: str) -> str:
    c = spec.components[cid]
    return f"{cid} ({c.kind}: {c.type_name})"


@click.command("graph")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text", show_default=True)
def graph(file: Path, fmt: str) -> None:
    """Show a pipeline's DAG, or a project's graph of pipelines (FILE a folder or project.yaml)."""
    if file.is_dir() or file.name == "project.yaml":
        from conduix.project import load_project

        project = load_project(file)
        click.echo("\n".join(project.mermaid() if fmt == "mermaid" else project.text()))
        return
    spec = load(str(file))
    if fmt == "mermaid":
        click.echo("flowchart LR")
        shapes = {"source": ("([", "])"), "stage": ("[", "]"), "sink": ("[(", ")]")}
        for c in spec.topological():
            left, right = shapes[c.kind]
            click.echo(f'    {c.id}{left}"{c.id}<br/>{c.type_name}"{right}')
        for c in spec.topological():
            for ref in c.inputs:
                label = f"|{ref.output}|" if ref.output else ""
                click.echo(f"    {ref.component} -->{label} {c.id}")
        return
    for c in spec.topological():
        if c.kind == "source":
            click.echo(_label(spec, c.id))
        else:
            sources = ", ".join(str(ref) for ref in c.inputs)
            click.echo(f"{_label(spec, c.id)}  <-  {sources}")


commands = [validate, schema, graph]
