"""Shared CLI plumbing: logging, the state directory option, loading pipelines, the end of start-up."""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from conduix.config import PipelineSpec

__all__ = ["configure_logging", "load", "started", "state_dir_option"]


def started() -> None:
    """Start-up is over: the cyclic garbage collector resumes.

    :func:`conduix.cli.main` pauses it while the command loads its modules, plugins, config models and
    programs: tens of thousands of objects that live as long as the process, which the collector would
    otherwise scan again and again as they are created (and once more at exit), a fifth of the CPU of a
    short ``conduix run``. They are moved out of its reach (``gc.freeze``) before it resumes; the few
    hundred cyclic leftovers of start-up, if any, stay in memory. Nothing happens when the collector was not
    paused (the CLI called in-process, by tests for instance).
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def configure_logging(level: str) -> None:
    from conduix.redaction import RedactingFormatter

    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(RedactingFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def state_dir_option(func: Any) -> Any:
    return click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar="CONDUIX_STATE_DIR", default=Path(".conduix"), show_default=True,
                        help="Checkpoints, buffers and run records.")(func)


def load(path: str) -> PipelineSpec:
    from conduix.config import load_pipeline

    return load_pipeline(path)
