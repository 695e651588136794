"""The ``conduix`` command line: a thin layer over the Python API."""

from __future__ import annotations

import importlib

import click

__all__ = ["cli", "main"]

# Each module defines ``command``: a click command or group added to ``conduix``.
_COMMAND_MODULES = [
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conduix-core", prog_name="conduix")
def cli() -> None:
    """Conduix: data pipelines that keep going through crashes, outages and bad input."""


for _name in _COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"conduix.cli.{_name}").command)


def main() -> None:
    cli(prog_name="conduix")
