"""Shared CLI plumbing: logging, the state directory option, loading pipelines."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from conduix.config import PipelineSpec, load_pipeline

__all__ = ["configure_logging", "load", "state_dir_option"]


def configure_logging(level: str) -> None:
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def state_dir_option(func: Any) -> Any:
    return click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar="CONDUIX_STATE_DIR", default=Path(".conduix"), show_default=True,
                        help="Checkpoints, buffers and run records.")(func)


def load(path: str) -> PipelineSpec:
    return load_pipeline(path)
