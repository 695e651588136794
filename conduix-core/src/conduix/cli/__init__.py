"""The ``conduix`` command line: a thin layer over the Python API."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from typing import Any

import click

from conduix.cli._common import configure_logging, started
from conduix.errors import ConduixError

__all__ = ["ENTRY_POINT_GROUP", "cli", "main"]

#: Other distributions add commands here: ``[project.entry-points."conduix.cli"] NAME = "pkg.module:command"``.
#: The target is a click command/group, or a module with ``command`` or ``commands`` like the built-in ones.
ENTRY_POINT_GROUP = "conduix.cli"

logger = logging.getLogger(__name__)

# Built-in commands, imported only when used (so `conduix plugins` imports no client library):
# name -> "module:attribute" of a click command or group.
_LAZY_COMMANDS = {
    "run": "run:command",
    "validate": "validate:validate",
    "config": "config:command",
    "schema": "validate:schema",
    "graph": "validate:graph",
    "plugins": "plugins:plugins",
    "plugin": "plugins:plugin",
    "checkpoint": "checkpoint:command",
    "tap": "observe:tap",
    "top": "observe:top",
    "run-project": "project:run_project",
    "backfill": "project:backfill",
    "retry": "project:retry",
    "runs": "project:runs",
    "remap": "remap:command",
    "test": "unit_test:command",
    "dlq": "dlq:command",
}

# Commands that call started() themselves, when their start-up is over (``run``: once the pipeline is built).
_START_UP_ITS_OWN = frozenset({"run"})

# Modules imported at start (each defines ``command`` or ``commands``); prefer _LAZY_COMMANDS.
_COMMAND_MODULES: list[str] = [
]


class _Group(click.Group):
    """Prints a ConduixError as one clear line and exits with its code; bugs keep their traceback.

    Commands from the ``conduix.cli`` entry-point group are loaded on first use (listing or
    looking up a command), so ``conduix run`` never imports them; a broken one is reported and skipped.
    """

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib import metadata

        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
                found = [target] if isinstance(target, click.Command) else (
                    getattr(target, "commands", None) or [target.command])
            except Exception as exc:  # a broken plugin must not break the whole CLI
                logger.warning("skipping CLI commands from entry point %s = %s: %s", ep.name, ep.value, exc)
                continue
            for command in found:
                if command.name not in self.commands and command.name not in _LAZY_COMMANDS:  # built-ins win
                    self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY_COMMANDS:
            module, _, attr = _LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(f"conduix.cli.{module}"), attr), cmd_name)
        if cmd_name not in self.commands:
            self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConduixError as exc:
            from conduix.redaction import redact

            click.secho(f"error: {redact(str(exc))}", fg="red", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conduix-core", prog_name="conduix")
@click.option("--log-level", default="warning", show_default=True, envvar="CONDUIX_LOG_LEVEL",
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """Conduix: data pipelines that keep going through crashes, outages and bad input."""
    configure_logging(log_level)
    if ctx.invoked_subcommand not in _START_UP_ITS_OWN:
        started()


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"conduix.cli.{_name}")
    for _command in getattr(_module, "commands", None) or [_module.command]:
        cli.add_command(_command)


def main() -> None:
    """The ``conduix`` command. The garbage collector pauses until the command's start-up is over
    (:func:`conduix.cli._common.started`)."""
    gc.disable()
    try:
        cli(prog_name="conduix")
    finally:
        gc.enable()
