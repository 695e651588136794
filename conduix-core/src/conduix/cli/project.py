"""Pipelines of pipelines: ``run-project``, ``runs``, ``retry`` and ``backfill``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from conduix.cli._common import state_dir_option
from conduix.errors import ConfigError
from conduix.project import ChildRequest, ProjectRunner, RunStore, load_project


def _parameters(values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param {value!r} is not NAME=VALUE", hint="e.g. --param board_id=42")
        params[name] = text
    return params


def _runner(project_path: Path, state_dir: Path, concurrency: int | None) -> ProjectRunner:
    from conduix.plugins import get_plugin_host

    host = get_plugin_host()
    project = load_project(project_path, registry=host.registry)
    return ProjectRunner(project, state_dir=state_dir, host=host, concurrency=concurrency)


def _report(runner: ProjectRunner, ok: bool, started: float) -> None:
    runs = runner.store.list()
    done = {status: sum(1 for r in runs if r.status == status) for status in ("succeeded", "failed")}
    with_errors = sum(1 for r in runs if r.errors)
    click.echo(f"project {runner.project.name}: {'succeeded' if ok else 'failed'} in {time.monotonic() - started:.1f}s "
               f"({done['succeeded']} runs succeeded, {done['failed']} failed"
               + (f"; {with_errors} with record errors, see `conduix runs`" if with_errors else "") + ")", err=True)
    for run_id in runner.failed:
        record = runner.store.get(run_id)
        click.secho(f"  failed: {run_id} {record.pipeline} {record.parameters}: {record.error}", fg="red", err=True)
    if not ok:
        raise SystemExit(1)


@click.command("run-project")
@click.argument("project", type=click.Path(exists=True, path_type=Path))
@state_dir_option
@click.option("--concurrency", type=click.IntRange(1), default=None, help="Runs at the same time (all pipelines).")
def run_project(project: Path, state_dir: Path, concurrency: int | None) -> None:
    """Validate and run a project (a folder of pipeline files, or a project.yaml) until every run ended."""
    import signal

    runner = _runner(project, state_dir, concurrency)
    for sig in (signal.SIGINT, signal.SIGTERM):  # streaming projects run until stopped
        signal.signal(sig, lambda signum, frame: runner.stop())
    started = time.monotonic()
    _report(runner, runner.run(), started)


@click.command("backfill")
@click.argument("project", type=click.Path(exists=True, path_type=Path))
@click.argument("pipeline")
@click.option("--param", "params", multiple=True, help="NAME=VALUE, repeatable: the run's parameters.")
@state_dir_option
def backfill(project: Path, pipeline: str, params: tuple[str, ...], state_dir: Path) -> None:
    """Run one PIPELINE of a project with parameters, and the children it triggers:
    `conduix backfill forum/ posts --param board_id=42`."""
    runner = _runner(project, state_dir, None)
    if pipeline not in runner.project.pipelines:
        raise ConfigError(f"no pipeline {pipeline!r} in the project",
                          hint=f"one of {', '.join(runner.project.pipelines)}")
    started = time.monotonic()
    _report(runner, runner.run([ChildRequest(pipeline, _parameters(params))]), started)


@click.command("retry")
@click.argument("run_id")
@click.option("--project", "project_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="The project (default: the one the run was part of).")
@state_dir_option
def retry(run_id: str, project_path: Path | None, state_dir: Path) -> None:
    """Run a recorded run again, alone, with its parameters (the children it triggers follow)."""
    record = RunStore(state_dir).get(run_id)
    path = project_path or (Path(record.project) if record.project else None)
    if path is None:
        raise ConfigError(f"run {run_id} was not part of a project", hint="pass --project DIR")
    runner = _runner(path, state_dir, None)
    started = time.monotonic()
    _report(runner, runner.retry(run_id), started)


@click.command("runs")
@state_dir_option
@click.option("--status", default=None,
              help="Only runs with this status (queued, running, retrying, succeeded, failed).")
@click.option("--pipeline", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.option("--control-url", envvar="CONDUIX_CONTROL_URL", default=None,
              help="Show the runs a control plane knows instead of the local ones.")
@click.pass_context
def runs(ctx: click.Context, state_dir: Path, status: str | None, pipeline: str | None, as_json: bool,
         control_url: str | None) -> None:
    """The recorded runs, children under their parent (local, or of a control plane with --control-url)."""
    if control_url:  # `conduix pipelines runs`, a command a control plane package plugs in (conduix.cli)
        root = ctx.find_root()
        group = root.command.get_command(root, "pipelines") if isinstance(root.command, click.Group) else None
        control_runs = group.get_command(ctx, "runs") if isinstance(group, click.Group) else None
        if control_runs is None:
            raise ConfigError("--control-url needs the control plane client", hint="pip install conduix-control")
        args = ["--control-url", control_url, *(["--pipeline", pipeline] if pipeline else []),
                *(["--json"] if as_json else [])]
        control_runs.main(args, prog_name="conduix pipelines runs", standalone_mode=False)
        return
    records = RunStore(state_dir).list(status=status, pipeline=pipeline)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    by_parent: dict[str | None, list] = {}
    ids = {r.id for r in records}
    for r in records:
        by_parent.setdefault(r.parent_run if r.parent_run in ids else None, []).append(r)

    def show(parent: str | None, depth: int) -> None:
        for r in by_parent.get(parent, []):
            params = " ".join(f"{k}={v}" for k, v in r.parameters.items())
            color = {"failed": "red", "succeeded": "green", "retrying": "yellow"}.get(r.status)
            failed_records = (f"  errors {sum(r.errors.values())} ("
                              + ", ".join(f"{cid}: {n}" for cid, n in r.errors.items()) + ")") if r.errors else ""
            click.secho(f"{'  ' * depth}{r.id}  {r.pipeline:<16} {r.status:<9} attempt {r.attempt}  "
                        f"in {r.records_in:>6} out {r.records_out:>6}{failed_records}  {params}"
                        + (f"  error: {r.error}" if r.error else ""), fg=color)
            show(r.id, depth + 1)

    show(None, 0)


commands = [run_project, backfill, retry, runs]
