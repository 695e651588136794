"""``conduix checkpoint show|reset PIPELINE``: inspect or forget a pipeline's checkpoint."""

from __future__ import annotations

import json

import click

from conduix.checkpoint import CheckpointStore, default_state_dir, open_store

__all__ = ["command"]

_store_option = click.option(
    "--store", "store_url", envvar="CONDUIX_CHECKPOINT_STORE", default=None, metavar="URL",
    help="Checkpoint store: redis://HOST:PORT/DB (with local files as fallback); default: files in the state dir.",
)
_state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
    help="Local state directory [default: $CONDUIX_STATE_DIR or .conduix].",
)


def _open(store_url: str | None, state_dir: str | None) -> CheckpointStore:
    return open_store(store_url, state_dir if state_dir is not None else default_state_dir())


@click.group("checkpoint")
def command() -> None:
    """Inspect or reset pipeline checkpoints."""


@command.command("show")
@click.argument("pipeline")
@_store_option
@_state_dir_option
def show(pipeline: str, store_url: str | None, state_dir: str | None) -> None:
    """Print PIPELINE's checkpoint as JSON (exit code 1 when it has none)."""
    store = _open(store_url, state_dir)
    try:
        checkpoint = store.load(pipeline)
    finally:
        store.close()
    if checkpoint is None:
        click.echo(f"pipeline {pipeline!r} has no checkpoint in {store!r}", err=True)
        raise SystemExit(1)
    click.echo(json.dumps(checkpoint, indent=2, sort_keys=True))


@command.command("list")
@_store_option
@_state_dir_option
def list_(store_url: str | None, state_dir: str | None) -> None:
    """List the pipelines that have a checkpoint."""
    store = _open(store_url, state_dir)
    try:
        for pipeline in store.list():
            click.echo(pipeline)
    finally:
        store.close()


@command.command("reset")
@click.argument("pipeline")
@_store_option
@_state_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(pipeline: str, store_url: str | None, state_dir: str | None, yes: bool) -> None:
    """Delete PIPELINE's checkpoint: its next run starts from the sources' configured start positions."""
    if not yes:
        click.confirm(
            f"Delete the checkpoint of {pipeline!r}? Its next run re-reads from the configured start positions",
            abort=True,
        )
    store = _open(store_url, state_dir)
    try:
        store.delete(pipeline)
    finally:
        store.close()
    click.echo(f"deleted the checkpoint of {pipeline!r}")
