"""``conduix plugins`` and ``conduix plugin init``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from conduix.plugins import get_plugin_host


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List every component type with the distribution and version that provides it."""
    host = get_plugin_host()
    rows = [{"kind": e.kind, "type": e.type_name, "target": e.target, "plugin": e.plugin,
             "distribution": e.distribution, "version": e.version} for e in host.registry.entries()]
    broken = [{"plugin": b.name, "distribution": b.distribution, "error": b.error} for b in host.broken]
    if as_json:
        click.echo(json.dumps({"components": rows, "broken": broken}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Conduix components")
    for column in ("kind", "type", "distribution", "version", "class"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["kind"], row["type"], row["distribution"] or row["plugin"], row["version"] or "",
                      row["target"])
    console = Console()
    console.print(table)
    for b in broken:
        console.print(f"[red]broken plugin {b['plugin']!r} from {b['distribution']}: {b['error']}[/red]")


@click.group("plugin")
def plugin() -> None:
    """Write your own plugins."""


@plugin.command("init")
@click.argument("name")
@click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the package folder.")
def init(name: str, directory: Path) -> None:
    """Scaffold a plugin package NAME with a stage, an entry point and a test."""
    from conduix.scaffold import scaffold_plugin

    root = scaffold_plugin(name, directory)
    click.echo(f"created {root}\nnext: pip install -e {root} && conduix plugins")


commands = [plugins, plugin]
