"""The ``conduix`` command line: a thin layer over the Python API."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from conduix.cli._common import configure_logging
from conduix.errors import ConduixError

__all__ = ["cli", "main"]

# Each module defines ``command`` (a click command or group) or ``commands`` (a list of them).
_COMMAND_MODULES = [
    "run",
    "validate",
    "plugins",
    "checkpoint",
    "remap",
]


class _Group(click.Group):
    """Prints a ConduixError as one clear line and exits with its code; bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConduixError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conduix-core", prog_name="conduix")
@click.option("--log-level", default="warning", show_default=True, envvar="CONDUIX_LOG_LEVEL",
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def cli(log_level: str) -> None:
    """Conduix: data pipelines that keep going through crashes, outages and bad input."""
    configure_logging(log_level)


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"conduix.cli.{_name}")
    for _command in getattr(_module, "commands", None) or [_module.command]:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="conduix")
