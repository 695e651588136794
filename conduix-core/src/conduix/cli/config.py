"""``conduix config normalize``: how a pipeline file is understood, in today's canonical shape."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from conduix.config import load_pipeline_text, normalize_text
from conduix.errors import ConfigError


@click.group("config")
def command() -> None:
    """Pipeline files: see how Conduix reads them."""


@command.command("normalize")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def normalize(file: Path) -> None:
    """Print FILE in today's canonical shape (flat, or type: actor), as Conduix understands it.

    Files in the original README's shapes (a 'pipeline:' actor tree, a 'stages:' chain) come out as
    the same pipeline in today's shape: save the output to migrate. Comments are not kept; ${VAR}
    placeholders stay as written. Problems go to stderr and make the exit status 2.
    """
    text = file.read_text(encoding="utf-8")
    try:
        data, errors = normalize_text(text, file=str(file))
    except ConfigError as exc:
        _fail(exc.errors)
    click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None),
               nl=False)
    if not errors:
        try:
            load_pipeline_text(text, file=str(file), default_name=file.stem, resolve=False)
        except ConfigError as exc:
            errors = exc.errors
    if errors:
        _fail(errors)


def _fail(errors: list[ConfigError]) -> None:
    for error in errors:
        click.secho(f"error: {error}", fg="red", err=True)
    raise SystemExit(2)
